"""aiohttp.web servers on loopback for the Jupyter clients' unit tests (no processes)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator

from aiohttp import web

__all__ = ["serve"]


@contextlib.asynccontextmanager
async def serve(app: web.Application, *, tls: ssl.SSLContext | None = None,
                ) -> AsyncIterator[str]:
    """Run ``app`` on a free loopback port; yields its base URL ("http://127.0.0.1:P/")."""
    # A short shutdown: a handler left holding a stream open (a hub's progress) is cut off.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    try:
        await site.start()
        port = runner.addresses[0][1]
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()
