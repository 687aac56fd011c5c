"""Running ``rtui ARGS`` in the test's own process, its stderr checked to be rtui's own."""

from __future__ import annotations

import pytest

from rtui.cli.main import main


def rtui_only(stderr: str) -> str:
    """``stderr``, once checked to be rtui's own lines: progress ("  ...") and "rtui: ..."."""
    assert "Traceback" not in stderr, stderr
    for line in stderr.splitlines():
        assert line.startswith(("  ", "rtui: ")), stderr
    return stderr


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``rtui ARGS`` in this process: exit code, stdout, stderr (checked: rtui's own)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, rtui_only(err)
