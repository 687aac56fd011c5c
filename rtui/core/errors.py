"""The one exception family rtui raises, each with a message a person can act on."""

from __future__ import annotations

__all__ = ["ConfigError", "RtuiError"]


class RtuiError(Exception):
    """A failure the user can understand and act on; ``str()`` is the whole message."""


class ConfigError(RtuiError):
    """The config file (or an ssh config) is unreadable, malformed or invalid."""
