"""procrastinate over a SQLAlchemy engine with psycopg2 (optional dependencies:
SQLAlchemy and psycopg2, ``pip install 'procrastinate-sqlcore[sqlalchemy]'``)."""

from __future__ import annotations

from procrastinate.contrib.sqlalchemy.psycopg2_connector import SQLAlchemyPsycopg2Connector

__all__ = ["SQLAlchemyPsycopg2Connector"]
