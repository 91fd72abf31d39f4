"""procrastinate.contrib.sphinx as procrastinate's docs show it: the
extension in conf.py, ``autoprocrastinate_task`` on a task, and a module's
tasks listed by ``automodule``. A real Sphinx build (in a subprocess), then
the HTML is read."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.subprocess
def test_tasks_are_documented_as_their_functions(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "shop_tasks.py").write_text(textwrap.dedent('''
        """The shop's tasks."""
        from procrastinate import App, PsycopgConnector

        app = App(connector=PsycopgConnector())

        @app.task(queue="emails")
        def send_receipt(order_id: int, address: str) -> None:
            """Mail the receipt of an order."""

        @app.task(pass_context=True)
        async def restock(context, item: str, quantity: int = 1) -> None:
            """Order more of an item."""
    '''))
    (source / "conf.py").write_text(
        "extensions = ['procrastinate.contrib.sphinx']\nproject = 'shop'\n"
    )
    (source / "index.rst").write_text(textwrap.dedent("""
        Shop
        ====

        .. autoprocrastinate_task:: shop_tasks.send_receipt

        .. automodule:: shop_tasks
           :members: restock
    """))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(source), os.path.join(ROOT, "python")]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "-q", str(source),
         str(tmp_path / "html")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    html = (tmp_path / "html" / "index.html").read_text()
    for expected in (
        "send_receipt", "order_id", "address", "Mail the receipt of an order.",
        "restock", "quantity", "Order more of an item.",
    ):
        assert expected in html, expected
