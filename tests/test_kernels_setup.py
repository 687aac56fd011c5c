"""Setting up a kernel environment on a host that has none, through the real sshd.

The host cannot reach a package index (PIP_INDEX_URL points at a closed port on the remote
side only), so rtui falls back to downloading wheels here and uploading them over SFTP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels
from rtui.core.remote.client import Progress
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust


async def test_setup_offline_from_uploaded_wheels_then_run_a_kernel(
    sshd_factory: Callable[..., SSHD], isolated_home: Path
) -> None:
    server = sshd_factory(extra_config="SetEnv PIP_INDEX_URL=http://127.0.0.1:9/simple")
    trust(server, isolated_home)
    conn, _ = connection(host_for(server))
    kernels = HostKernels(conn)  # the remote's own python3: no ipykernel there
    lines: list[Progress] = []
    try:
        before = await kernels.environments()
        assert not any(e.ipykernel for e in before if e.kind == "rtui")
        env = await kernels.setup(on_progress=lines.append)
        assert env.python == str(server.remote_home / ".local/share/rtui/venv/bin/python")
        assert env.ipykernel
        text = "\n".join(p.line for p in lines)
        assert "cannot reach a package index: uploading wheels" in text
        assert "uploaded ipykernel-" in text
        assert any(p.fraction is not None for p in lines)  # a bar where the length is known
        # Only rtui's own env was touched, and it now runs kernels.
        after = {e.python: e for e in await kernels.environments()}
        assert after[env.python].ipykernel
        kernel = await kernels.start(python=env.python)
        out = [e async for e in kernel.session.execute("import sys; print(sys.prefix)")]
        printed = "".join(e.text for e in out if isinstance(e, ev.Stream))
        assert printed.strip() == str(server.remote_home / ".local/share/rtui/venv")
        await kernels.shutdown(kernel)
    finally:
        await kernels.close()
        await conn.close()
