"""Simulated worlds that produce robot videos: MetaWorld (v3) and a PyBullet tabletop.

Modules import their simulator lazily where they can, so listing tasks or reading instructions does
not start MuJoCo or PyBullet.
"""
