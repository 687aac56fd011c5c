"""How rtui starts a kernel: ``python -c BOOT MODULE -f FILE`` runs MODULE as ``-m`` would,
after moving ipykernel's fork pipe off TCP when the kernel's own sockets are Unix sockets, and
taking the high-water mark off its iopub socket.

The high-water mark: zmq's PUB drops, silently, what a subscriber has not taken once 1,000
messages queue for it (the default ipykernel keeps). The subscriber of a kernel rtui starts is
its keeper, on the same host, which takes every message into its own bounded buffer (and
counts what that drops); a keeper descheduled for a moment under load, while the kernel prints
a line per message, lost the rest of the flood there, and nobody could tell
(tests/test_keeper.py, the starved keeper). ``BOOT`` sets SNDHWM 0 on the PUB before ipykernel
binds it, so the messages queue in the kernel until the keeper reads them. The cost: a
subscriber that stays connected and reads nothing (not rtui's keeper) grows the kernel's memory
while it prints. Kernels rtui did not start keep their own mark.

The fork pipe: ipykernel (kernelapp, ``IOPubThread(..., pipe=True)``, unconditionally) binds a
zmq PULL on ``tcp://127.0.0.1:<random>`` whatever the kernel's transport; the output of the
kernel's forked children (``os.fork``, multiprocessing's fork start method) comes back there.
It reads nothing out (each message must start with a random 16-byte id the kernel keeps), but
it is a TCP listener any local user can reach. ``BOOT`` binds it on ``<ip>-fork`` beside the
kernel's ipc sockets instead, in its private 0700 directory (a path no longer than the
keeper's, which ``sockets.kernel_dir`` checks against the Unix socket limit).

``BOOT`` is code, not a module file, so a kernel's command line stays valid whatever happens
to the agent's cached zipapp (a restart reuses it), and it needs nothing of rtui's in the
kernel's Python. It is kept as a string: the agent imports no pyzmq (tests/test_import_
hygiene.py), the kernel's Python runs this. Its argv still names MODULE and ``-f FILE``, which
is how ``procs`` finds a kernel's process and tells its kind.
"""

from __future__ import annotations

import re

# What a kernel rtui starts is (on the login node or in a SLURM job): its kind's module, its
# five sockets' names in connection files, and the shapes an id and a key may have.
KERNEL_MODULES = {"ipykernel": "ipykernel_launcher", "spyder": "spyder_kernels.console"}
PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
KERNEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
KEY_RE = re.compile(r"[A-Za-z0-9_-]{32,256}")

# Patched only when IOPubThread's two pipe methods have the shape checked below, the one they
# have had from ipykernel 4.x (uuid4 id) through 6.x (6.31 checked here) and 7.x (7.4 checked,
# and ipykernel's main branch on GitHub): ``_setup_pipe_in(self)`` binds with
# bind_to_random_port and wraps the socket in a ZMQStream calling _handle_pipe_msg;
# ``_setup_pipe_out(self)`` connects a PUSH in a new context to ``_pipe_port``. Anything else
# (another ipykernel, a TCP kernel, a path too long, a failed bind, any error here) leaves
# ipykernel's own behaviour untouched: the kernel and its children's output matter more than
# where the pipe listens. The current directory (what python -c puts first on sys.path) is
# out of the path while this imports, as ipykernel_launcher has it, so that no file there
# shadows a module; then it is back, as the absolute path -m puts there.
BOOT = '''import sys


def rtui_fork_pipe():
    import os
    import zmq
    from ipykernel import iostream
    thread = getattr(iostream, "IOPubThread", None)
    stream = getattr(iostream, "ZMQStream", None)
    setup_in = getattr(thread, "_setup_pipe_in", None)
    setup_out = getattr(thread, "_setup_pipe_out", None)
    code_in = getattr(setup_in, "__code__", None)
    code_out = getattr(setup_out, "__code__", None)
    if stream is None or code_in is None or code_out is None:
        return
    if (code_in.co_argcount != 1 or code_out.co_argcount != 1
            or not {"bind_to_random_port", "_pipe_uuid", "_handle_pipe_msg",
                    "io_loop"} <= set(code_in.co_names)
            or "_pipe_port" not in code_out.co_names):
        return

    def pipe_address(self):
        endpoint = self.socket.get(zmq.LAST_ENDPOINT)
        endpoint = endpoint.decode() if isinstance(endpoint, bytes) else str(endpoint)
        base, dash, port = endpoint.rpartition("-")
        if not (endpoint.startswith("ipc:///") and dash and port.isdigit()):
            return None
        address = base + "-fork"
        return address if len(address[6:].encode()) <= 100 else None

    def setup_pipe_in(self):
        pipe_in = None
        try:
            address = pipe_address(self)
            if address is not None:
                pipe_in = self.socket.context.socket(zmq.PULL)
                pipe_in.linger = 0
                pipe_in.bind(address)
                pipe_stream = stream(pipe_in, self.io_loop)
                pipe_stream.on_recv(self._handle_pipe_msg)
        except Exception:
            if pipe_in is not None:
                pipe_in.close()
            address = None
        if address is None:
            return setup_in(self)
        self._pipe_uuid = os.urandom(16)
        self._rtui_fork_pipe = address
        self._pipe_in = pipe_stream

    def setup_pipe_out(self):
        address = getattr(self, "_rtui_fork_pipe", None)
        if address is None:
            return setup_out(self)
        context = zmq.Context()
        pipe_out = context.socket(zmq.PUSH)
        pipe_out.linger = 3000
        pipe_out.connect(address)
        return context, pipe_out

    thread._setup_pipe_in = setup_pipe_in
    thread._setup_pipe_out = setup_pipe_out


def rtui_iopub_keeps_all():
    import zmq
    from ipykernel import kernelapp
    app = getattr(kernelapp, "IPKernelApp", None)
    bind = getattr(app, "_bind_socket", None)
    if bind is None:
        return

    def bind_socket(self, socket, *args, **kwargs):
        if socket.socket_type == zmq.PUB:
            socket.setsockopt(zmq.SNDHWM, 0)
        return bind(self, socket, *args, **kwargs)

    app._bind_socket = bind_socket


module = sys.argv.pop(1)
in_cwd = sys.path[:1] == [""]
if in_cwd:
    del sys.path[0]
import os, runpy
for patch in (rtui_fork_pipe, rtui_iopub_keeps_all):
    try:
        patch()
    except Exception:
        pass
if in_cwd:
    try:
        sys.path.insert(0, os.getcwd())
    except OSError:
        sys.path.insert(0, "")
del in_cwd, patch, rtui_fork_pipe, rtui_iopub_keeps_all
runpy.run_module(module, run_name="__main__", alter_sys=True)
'''


def kernel_argv(python: str, module: str, connection_file: str) -> list[str]:
    """The command line of a kernel rtui starts. -Xfrozen_modules=off as ipykernel's own
    kernelspec has it: else debugpy warns on stderr at every start (Python >= 3.11), and that
    warning is the kernel's first output. Older Pythons ignore an -X option they do not know."""
    return [python, "-Xfrozen_modules=off", "-c", BOOT, module, "-f", connection_file]
