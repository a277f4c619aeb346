"""Clip datasets, samplers and video I/O.

Every dataset yields items of one shape (see `records.ClipItem`) and exposes its metadata as a list
of `ClipRecord`s, so samplers can balance batches without decoding any video.
"""
