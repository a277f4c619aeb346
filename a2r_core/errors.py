"""Typed errors of a2r_core.

Callers (the CLI, the ROS nodes) catch `A2RError` and turn it into a log line, an exit code or a
response status; anything else escaping is a bug. Each subclass names one kind of user-facing
problem so the caller can pick the right status without parsing messages.
"""


class A2RError(Exception):
    """Base class of every error a2r raises on purpose."""


class ConfigError(A2RError, ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class CheckpointError(A2RError):
    """A checkpoint is missing, corrupt or does not match the model it is loaded into."""


class InputError(A2RError, ValueError):
    """Input data (a clip, an image, a request, a file) is malformed."""


class DataError(A2RError):
    """A dataset, manifest or video file is missing, corrupt or inconsistent."""
