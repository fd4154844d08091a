"""User-facing errors: each one is printed as one line by the CLIs, without a traceback."""

from __future__ import annotations


class RayjobError(Exception):
    """A problem the user can fix; the message names the thing and the fix."""


class ConfigError(RayjobError):
    """A config file, override or search space that rayjob cannot accept."""


class DataError(RayjobError):
    """A dataset folder or image that cannot be used."""
