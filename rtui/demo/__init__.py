"""``rtui demo``'s wing: an SSH server inside this process whose host is injected into the
run's workspace (never into the core, never into the hosts file)."""

from __future__ import annotations

from rtui.demo.processes import demo_processes
from rtui.demo.server import DEMO_NOTE, DemoServer

__all__ = ["DEMO_NOTE", "DemoServer", "demo_processes"]
