"""Jupyter Server and JupyterHub hosts (issue 20): the ``1+1`` round trip over the kernel
websocket beside an SSH kernel on the same machine, and a hub server's start to a console
that is ready beside the hub's own spawn time.

``python -m benchmarks.jupyter [--quick] [--samples N] [--runs N]``

It starts, at once, a loopback OpenSSH sshd (the test harness's), a ``jupyter_server`` (token
auth) and a JupyterHub (dummy authenticator, simple spawner, npm's configurable-http-proxy:
tests/harness/jupyterhub.py), all on 127.0.0.1, with a throwaway HOME.

- **Round trips** (execute_request -> execute_reply + iopub idle), p50/p95, in blocks taking
  the paths in turn (a different order each round, so the drift of a shared machine hits
  all alike): an SSH kernel through the sshd (rtui's ``HostKernels``, its ``KernelSession``
  on zmq: the reference); a kernel of the jupyter_server over its websocket through rtui's
  ``WebSocketChannels`` with QUICKACK on (rtui's default) and off, and through a bare aiohttp
  client with and without it (nothing of rtui: what the wire costs); the same kernel
  ``--via`` the sshd host (``ViaRoute``: rtui's agent relay, which ACKs at once on the far
  side, and the plain SSH channel it falls back to); and a kernel of alice's hub server
  through the hub's proxy. jupyter_server never sets TCP_NODELAY on the kernel
  websocket, so without QUICKACK a reply's second small write waits for the client's delayed
  ACK (~40 ms; DESIGN20 §2).
- **Hub starts**, alice's default server from stopped each time: the hub's own spawn (a bare
  client's POST until the progress stream says ready, and the hub's log line "took X
  seconds"), rtui's start to a console that is ready (``HubClient.ensure_server``, the
  kernel made, its websocket open, the first ``kernel_info_reply``) with its stages, and
  rtui's SSH kernel start on a connected host for scale.

The load average is printed around each table (the machine is shared). Figures only: exit 0
whatever they are, non-zero only if a path crashed.
"""

from __future__ import annotations

from benchmarks.jupyter.run import main

__all__ = ["main"]
