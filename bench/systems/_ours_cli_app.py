"""The App that ``procrastinate --app _ours_cli_app.app`` loads in the
``supervise`` action of ours.py (``worker --processes N``): the benchmark's
tasks (_procrastinate_api.make_app) on the database in BENCH_DSN."""

from __future__ import annotations

import os

import _procrastinate_api

app, _, _ = _procrastinate_api.make_app(os.environ["BENCH_DSN"])
