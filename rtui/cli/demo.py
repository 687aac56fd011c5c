"""``rtui demo``: try rtui against an SSH server inside this process, with nothing to set up.

The server (:class:`rtui.demo.DemoServer`) and the terminal UI share one event loop. The
demo host exists for this run only: it is never written to the hosts file, its key is trusted
through a throwaway known_hosts file, and everything it started is killed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from rtui.core import locations
from rtui.core.config.model import IMAGE_MODES
from rtui.core.config.store import HostStore
from rtui.core.errors import RtuiError
from rtui.core.logs import log_to

if TYPE_CHECKING:
    from rtui.core.kernels.session import KernelSession
    from rtui.demo import DemoServer
    from rtui.tui.app import RtuiApp
    from rtui.tui.graphics import GraphicsSupport

__all__ = ["DEMO_CODE", "demo_app", "register", "select_host"]

DEMO_CODE = "print('hello from the demo kernel')"
_HEADLESS_TIMEOUT = 30.0  # seconds per check step without a UI (a loaded machine is slow)


def register(commands: Any) -> None:
    p = commands.add_parser(
        "demo", help="try rtui on an SSH server started inside rtui (nothing is saved)",
        description="Start an SSH server on 127.0.0.1 inside rtui, with a throwaway key and a "
        "temporary home, and open the terminal UI with a host 'demo' for it. The host exists for "
        "this run only; every process it started is stopped on exit.",
    )
    p.add_argument("--ansi", action="store_true", dest="demo_ansi",
                   help="use the terminal's own 16 colours (as rtui --ansi)")
    p.add_argument("--images", choices=IMAGE_MODES, metavar="MODE", dest="demo_images",
                   help="how images are drawn (as rtui --images)")
    p.add_argument("--no-tui", action="store_true",
                   help="no UI: connect, check, start a kernel, run one line, stop (for scripts)")
    p.set_defaults(handler=_demo)


def demo_app(store: HostStore, server: DemoServer, *, ansi: bool = False,
             check_on_start: bool = True, graphics: GraphicsSupport | None = None) -> RtuiApp:
    """The app ``rtui demo`` runs: the user's hosts plus the demo host, for this run only.
    Only the demo host trusts the demo's key file; the user's other hosts keep using
    ~/.ssh/known_hosts and rtui's own known_hosts as always."""
    from rtui.tui.app import RtuiApp

    return RtuiApp(store, ansi=ansi, check_on_start=check_on_start,
                   injected=(server.injected_host(),), graphics=graphics)


async def select_host(app: RtuiApp, name: str, timeout: float = 10) -> bool:
    """Put the host list's cursor on ``name`` once it is listed (Enter then opens a console)."""
    from textual.css.query import NoMatches
    from textual.widgets import DataTable

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            table = app.query_one("#hosts", DataTable)
        except NoMatches:
            table = None
        if table is not None and name in table.rows:
            table.move_cursor(row=table.get_row_index(name))
            return True
        await asyncio.sleep(0.05)
    return False


def _demo(args: argparse.Namespace) -> int:
    from rtui.demo import DemoServer

    store = HostStore(locations.config_path(args.config))
    server = DemoServer(name=_free_name(store))
    try:
        if args.no_tui:
            return asyncio.run(_until_signalled(_headless(server)))
        from rtui.tui.app import detect_graphics

        # Asked of the terminal before the UI starts (Textual then reads its input).
        graphics = detect_graphics(store, getattr(args, "images", None) or args.demo_images)
        return asyncio.run(_until_signalled(_tui(server, store, ansi=args.ansi or args.demo_ansi,
                                                 graphics=graphics)))
    finally:
        server.discard()  # a no-op after close(); the last resort if the loop died


async def _until_signalled(body: Coroutine[Any, Any, int]) -> int:
    """Run ``body``; SIGTERM or SIGHUP (terminal closed) cancel it, so its clean-up runs."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def stop(number: int) -> None:
        received.append(number)
        if task is not None:
            task.cancel()

    signals = [signal.SIGTERM, signal.SIGHUP]
    for number in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(number, stop, number)
    result = 1
    try:
        result = await body
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for number in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(number)
    if received:
        print(f"rtui: demo: stopped by {signal.Signals(received[0]).name}", file=sys.stderr)
        return 128 + received[0]
    return result


def _free_name(store: HostStore) -> str:
    """``demo``, unless the hosts file has a host of that name already."""
    try:
        taken = {h.name for h in store.load().hosts}
    except RtuiError:
        taken = set()
    name, n = "demo", 1
    while name in taken:
        n += 1
        name = f"demo-{n}"
    return name


async def _tui(server: DemoServer, store: HostStore, *, ansi: bool,
               graphics: GraphicsSupport | None = None) -> int:
    await server.start()
    log_to(server.state_dir / "rtui.log")  # with the rest of the demo: gone when it ends
    try:
        app = demo_app(store, server, ansi=ansi, graphics=graphics)
        selecting = asyncio.ensure_future(select_host(app, server.name))
        try:
            await app.run_async()
        finally:
            selecting.cancel()
        return app.return_code or 0
    finally:
        log_to(None)
        await server.close()
        _report_survivors(server)


async def _headless(server: DemoServer) -> int:
    """The demo without a UI: each step printed, the same core calls the UI makes."""
    from rtui.cli.check import _line
    from rtui.core.ssh.prompts import NoPrompter
    from rtui.core.workspace import Workspace

    _step("starting the demo SSH server on 127.0.0.1")
    await server.start()
    log_to(server.state_dir / "rtui.log")
    try:
        host = server.demo_host()
        _step(f"listening on {host.address} (host key trusted for this run only); "
              f"remote home {server.home}")
        workspace = Workspace(None, injected=(server.injected_host(),), prompter=NoPrompter(),
                              auto_reconnect=False, prefetch=False)
        try:
            kernels = await workspace.ssh_kernels(host.name)
            _step(f"connecting as {host.user} with the demo's key")
            await kernels.connection.connect()
            _step("checking the host (as `rtui check`)")
            status, = await workspace.check([host.name], prompter=NoPrompter(),
                                            timeout=_HEADLESS_TIMEOUT)
            print(_line(status), flush=True)
            if not status.ok:
                return 1
            _step(f"starting a kernel with {host.python}")
            kernel = await kernels.start(python=host.python)
            try:
                _step(f"kernel {kernel.id} is running (sockets via {kernel.route}); "
                      f"executing: {DEMO_CODE}")
                code = await _execute(kernel.session, DEMO_CODE)
            finally:
                _step("shutting the kernel down")
                await kernels.shutdown(kernel)
        finally:
            await workspace.close()
    finally:
        _step("stopping the demo server")
        log_to(None)
        await server.close()
        _report_survivors(server)
    _step("done" if code == 0 else "the code failed")
    return code


async def _execute(session: KernelSession, code: str) -> int:
    """Print one execution's output; 1 if it raised."""
    from rtui.core.kernels import events as ev

    status = 0
    async for event in session.execute(code):
        if isinstance(event, ev.Stream):
            stream = sys.stdout if event.name == "stdout" else sys.stderr
            stream.write(event.text)
            stream.flush()
        elif isinstance(event, (ev.ExecuteResult, ev.DisplayData)):
            text = str(event.data.get("text/plain", ""))
            if text:
                print(text, flush=True)
        elif isinstance(event, ev.Error):
            print(f"{event.ename}: {event.evalue}", file=sys.stderr, flush=True)
            status = 1
        elif isinstance(event, ev.ExecuteReply) and event.status != "ok":
            status = 1
    return status


def _step(text: str) -> None:
    print(f"demo: {text}", flush=True)


def _report_survivors(server: DemoServer) -> None:
    if server.survivors:
        pids = ", ".join(str(p) for p in server.survivors)
        print(f"rtui: demo: could not stop processes {pids}", file=sys.stderr, flush=True)
