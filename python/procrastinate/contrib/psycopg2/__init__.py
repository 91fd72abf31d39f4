"""procrastinate over psycopg2 (optional dependency: psycopg2 or psycopg2-binary)."""

from __future__ import annotations

from procrastinate.contrib.psycopg2.psycopg2_connector import Psycopg2Connector

__all__ = ["Psycopg2Connector"]
