"""rtui: a keyboard-driven terminal UI for SSH hosts and remote Python kernels."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
