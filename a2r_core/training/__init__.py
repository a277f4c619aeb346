"""The trainer's parts: configuration, dataset registry, checkpointed training state, logging.

The loop itself is `a2r_core.train`; `a2r train` is its command-line front end.
"""
