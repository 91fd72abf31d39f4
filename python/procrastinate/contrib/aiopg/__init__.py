"""procrastinate over aiopg (optional dependency: aiopg)."""

from __future__ import annotations

from procrastinate.contrib.aiopg.aiopg_connector import AiopgConnector

__all__ = ["AiopgConnector"]
