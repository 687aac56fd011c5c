"""The Jupyter fixtures themselves: real servers that answer, with token auth, and stop."""

from __future__ import annotations

from pathlib import Path

from tests.harness.jupyter import JupyterServerInfo, request


def test_jupyter_server_answers_with_its_token_only(jupyter_server: JupyterServerInfo) -> None:
    status, about = jupyter_server.api("")
    assert status == 200 and about["version"].count(".") >= 2
    assert jupyter_server.url == f"http://127.0.0.1:{jupyter_server.port}/"
    status, _ = request(f"{jupyter_server.url}api/kernels", "not-the-token")
    assert status == 403  # jupyter_server says 403, not 401, for a wrong token
    # The PID is the server's own (no `jupyter` wrapper), and the token is not in its argv.
    argv = Path(f"/proc/{jupyter_server.pid}/cmdline").read_bytes().split(b"\0")
    assert b"jupyter_server" in argv and not any(jupyter_server.token.encode() in a for a in argv)
    assert jupyter_server.root_dir.is_dir()


def test_jupyter_server_runs_kernels_and_deletes_them(jupyter_server: JupyterServerInfo) -> None:
    status, kernel = jupyter_server.api("kernels", "POST", {"name": "python3"})
    assert status == 201 and kernel["name"] == "python3"
    assert kernel["id"] in jupyter_server.kernel_ids()
    jupyter_server.delete_all_kernels()
    assert jupyter_server.kernel_ids() == []
    status, _ = jupyter_server.api(f"kernels/{kernel['id']}")
    assert status == 404
