"""`procrastinate dashboard` serves the dashboard, read-only without a
token, on the database of libpq's environment when no --app is given."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import psycopg.conninfo
import pytest

pytestmark = pytest.mark.subprocess


def test_the_command_serves_a_read_only_dashboard(db_dsn: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCRASTINATE_")}
    env["PGDATABASE"] = psycopg.conninfo.conninfo_to_dict(db_dsn)["dbname"]
    # port 0: the system picks a free one, which uvicorn's log names
    process = subprocess.Popen(
        [sys.executable, "-m", "procrastinate", "dashboard", "--port", "0"],
        env=env, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:  # ends when the process does
            if match := re.search(r"running on (http://\S+)", line, re.IGNORECASE):
                url = match.group(1)
                break
        assert url, "the dashboard did not start"
        response = httpx.get(url + "/queues")
        assert response.status_code == 200
        assert "read-only" in response.text
        assert httpx.post(url + "/queues/pause", data={"queue": "q"}).status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=30)
