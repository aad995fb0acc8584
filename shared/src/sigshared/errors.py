"""The error types of the workspace. Library code raises them; only `sigshared.cli` turns them
into exit codes.

Every subclass of `UserError` is a mistake a user can fix (bad file, bad value, bad data); its
message is one line that names the thing and the fix, and names values and files, never
command-line flags (a library does not know which flag fed it). Console scripts print it and
exit with code 2.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix. The message is one line."""


class ConfigError(UserError, ValueError):
    """A config file or override that is unreadable, unknown, mistyped or out of range."""


class DataError(UserError):
    """Input data that cannot be used as it is (format, shape, NaN/Inf, empty)."""


class CheckpointError(UserError):
    """A checkpoint that is missing, corrupt, or written by another package or for another kind."""


class OutputError(UserError):
    """An output path that cannot be written (exists, unknown format, unwritable folder)."""


class DivergenceError(UserError):
    """Training produced non-finite losses or weights and was stopped."""
