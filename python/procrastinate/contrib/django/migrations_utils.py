"""``RunProcrastinateSQL(name)``: procrastinate 3.x's Django operation running
one shipped SQL migration file by name, for projects whose own migrations use
it. Here it takes the names of our files (``0013_leases``, see migrations/)
and runs the file as ApplyProcrastinateMigration does: through the migration
runner, which records it and applies it once (running a file's SQL bare
would skip that bookkeeping)."""

from __future__ import annotations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class RunProcrastinateSQL(ApplyProcrastinateMigration):
    """Apply the shipped migration file ``name`` (and any earlier one pending)."""

    def __init__(self, name: str):
        super().__init__(name.removesuffix(".sql"))
