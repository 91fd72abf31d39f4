"""``python -m procrastinate``: the ``procrastinate`` command."""

from __future__ import annotations

from procrastinate import cli

if __name__ == "__main__":
    cli.main()
