"""What a scientist displays, from a real kernel into the console view: Markdown, an HTML
table, a DataFrame, LaTeX and JSON read as text and tables, not as their reprs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtui.core.console.blocks import RichBlock
from rtui.core.console.model import ConsoleModel
from rtui.core.kernels.events import ExecuteInput
from rtui.core.kernels.session import KernelSession
from rtui.tui.widgets.console_view import ConsoleView
from tests.harness.kernels import connection_info, launch_local_kernel
from tests.test_console_view import Host, until, visible

CELL = r"""
from IPython.display import HTML, JSON, Latex, Markdown, display
import pandas as pd
display(Markdown('# Title\n\n- first point'))
display(HTML('<table><tr><th>key</th><th>value</th></tr><tr><td>alpha</td><td>1</td></tr>'
             '</table><script>alert(1)</script>'))
display(Latex(r'$\alpha^2 + \frac{1}{2}$'))
display(JSON({'answer': [42, None]}))
pd.DataFrame({'city': ['Lyon', 'Oslo'], 'temp': [21.5, -3.25]})  # the cell's result
"""


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[dict[str, Any]]:
    km = launch_local_kernel(tmp_path / "kernel")
    try:
        yield connection_info(km)
    finally:
        km.shutdown_kernel(now=True)


async def test_rich_outputs_of_a_real_kernel_read_as_text_and_tables(
        kernel: dict[str, Any]) -> None:
    session = KernelSession.over_zmq(kernel, name="rich")
    await session.start(timeout=30)
    model = ConsoleModel()
    try:
        async with asyncio.timeout(60):
            async for event in session.execute(CELL):
                if not isinstance(event, ExecuteInput):  # the outputs alone on the screen
                    model.apply(event)
    finally:
        await session.close()
    blocks = [model.block_at(i) for i in range(model.first_index, model.total)]
    kinds = [block.kind for block in blocks if isinstance(block, RichBlock)]
    assert kinds == ["markdown", "html", "latex", "json", "html"]

    app = Host(model)
    async with app.run_test(size=(60, 40)) as pilot:
        view = app.query_one(ConsoleView)
        view.notify_changed()
        await until(pilot, lambda: any("Title" in row for row in visible(view)))
        screen = [row.strip() for row in visible(view)]
    text = "\n".join(screen)
    assert "object>" not in text and "alert" not in text and "<table>" not in text
    assert "Title" in screen and "• first point" in screen
    assert ["key", "value"] in [row.split() for row in screen]
    assert ["alpha", "1"] in [row.split() for row in screen]
    result = screen.index("Out[1]:")
    assert [row.split() for row in screen[result + 1:result + 5]] == [
        ["city", "temp"], ["──────────────"], ["0", "Lyon", "21.50"], ["1", "Oslo", "-3.25"]]
    assert "α² + 1/2" in screen
    assert screen[screen.index("{"):screen.index("{") + 6] == [
        "{", '"answer": [', "42,", "null", "]", "}"]
