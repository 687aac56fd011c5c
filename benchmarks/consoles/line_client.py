"""The least a terminal console can do: ``input()``, an execute_request, ``print(Out)``.

``python benchmarks/consoles/line_client.py KERNEL_PYTHON WORKDIR``

Run in tmux by ``benchmarks.consoles`` as the floor for `N+1` Enter -> result on screen:
the same kernel build, terminal and screen reading as the consoles, and no UI at all (the tty
echoes the input line; the result is one ``print``). What a console takes beyond this is its
own. It starts a local kernel with KERNEL_PYTHON (files in WORKDIR) and shuts it down on EOF.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

TIMEOUT = 30.0  # seconds for the kernel to start or answer


def main(argv: list[str]) -> int:
    python, root = argv[0], Path(argv[1])
    spec_dir = root / "kernels" / "line"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "line client", "language": "python"}))
    km = KernelManager(kernel_name="line",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(root / "kernels")]),
                       connection_file=str(root / "line-connection.json"), ip="127.0.0.1")
    with (root / "line-kernel.log").open("wb") as log:
        km.start_kernel(cwd=str(root), stdout=log, stderr=subprocess.STDOUT)
    client = km.blocking_client()
    try:
        client.start_channels()
        client.wait_for_ready(timeout=TIMEOUT)
        count = 1
        while True:
            try:
                code = input(f"In [{count}]: ")
            except EOFError:
                return 0
            if code.strip():
                print(_run(client, code, count), flush=True)
                count += 1
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def _run(client: Any, code: str, count: int) -> str:
    """Send ``code``; the text to show once the kernel is idle again."""
    msg_id = client.execute(code)
    shown = ""
    while True:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "execute_result":
            shown = f"Out[{count}]: {content['data'].get('text/plain', '')}"
        elif kind == "error":
            shown = f"{content['ename']}: {content['evalue']}"
        elif kind == "stream":
            shown += content["text"]
        elif kind == "status" and content["execution_state"] == "idle":
            return shown


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
