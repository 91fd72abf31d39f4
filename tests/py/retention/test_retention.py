"""Retention: JobManager.delete_old_jobs and the builtin remove_old_jobs task
delete old jobs through procrastinate_remove_old_jobs in bounded batches,
each batch its own transaction."""

from __future__ import annotations

import asyncio
import collections

import psycopg
import pytest

from procrastinate import manager

# Records, for each deleted job, the transaction that deleted it.
DELETION_LOG = """
create table deletion_log (txid bigint not null, job_id bigint not null);
create function log_deletion() returns trigger language plpgsql as $$
begin
    insert into deletion_log (txid, job_id) values (txid_current(), old.id);
    return old;
end;
$$;
create trigger log_deletion after delete on procrastinate_jobs
for each row execute function log_deletion();
"""


def insert_jobs(db, count, status, hours_ago, queue="default"):
    db.execute(
        "insert into procrastinate_jobs (queue_name, task_name, status, finished_at) "
        "select %s, 't', %s::procrastinate_job_status, now() - make_interval(hours => %s) "
        "from generate_series(1, %s)",
        [queue, status, hours_ago, count],
    )


def batches(db) -> list[int]:
    """How many jobs each transaction deleted, in order."""
    rows = db.execute(
        "select txid, count(*) as n from deletion_log group by txid order by min(job_id)"
    ).fetchall()
    return [row["n"] for row in rows]


def remaining(db) -> collections.Counter:
    rows = db.execute(
        "select status::text as status, finished_at < now() - interval '1 hour' as old "
        "from procrastinate_jobs"
    ).fetchall()
    return collections.Counter((row["status"], row["old"]) for row in rows)


@pytest.fixture
def deletion_log(db):
    db.execute(DELETION_LOG)


async def test_delete_old_jobs_deletes_in_batches_each_its_own_transaction(
    app, db, deletion_log
):
    insert_jobs(db, 35, "succeeded", hours_ago=5)
    insert_jobs(db, 3, "succeeded", hours_ago=0)
    insert_jobs(db, 4, "failed", hours_ago=5)

    deleted = await app.job_manager.delete_old_jobs(nb_hours=1, batch_size=10)

    assert deleted == 35
    assert batches(db) == [10, 10, 10, 5]
    assert remaining(db) == {("succeeded", False): 3, ("failed", True): 4}


async def test_batches_stop_at_the_first_short_one(app, db, deletion_log):
    insert_jobs(db, 20, "cancelled", hours_ago=5)

    assert await app.job_manager.delete_old_jobs_async(
        nb_hours=1, include_cancelled=True, batch_size=10
    ) == 20
    assert batches(db) == [10, 10]
    assert await app.job_manager.delete_old_jobs(nb_hours=1, include_cancelled=True) == 0


async def test_batch_size_none_deletes_in_one_call(app, db, deletion_log):
    insert_jobs(db, 25, "succeeded", hours_ago=5)

    assert await app.job_manager.delete_old_jobs(nb_hours=1, batch_size=None) == 25
    assert batches(db) == [25]


async def test_the_default_batch_size_bounds_each_call(app, db, deletion_log):
    insert_jobs(db, manager.DELETE_OLD_JOBS_BATCH_SIZE + 5, "succeeded", hours_ago=5)

    assert (
        await app.job_manager.delete_old_jobs(nb_hours=1)
        == manager.DELETE_OLD_JOBS_BATCH_SIZE + 5
    )
    assert batches(db) == [manager.DELETE_OLD_JOBS_BATCH_SIZE, 5]


async def test_invalid_batch_size(app):
    with pytest.raises(ValueError):
        await app.job_manager.delete_old_jobs(nb_hours=1, batch_size=0)


async def test_a_job_locked_elsewhere_is_skipped_not_waited_for(app, db, db_dsn):
    insert_jobs(db, 5, "succeeded", hours_ago=5)
    with psycopg.connect(db_dsn) as other:
        locked = other.execute(
            "select id from procrastinate_jobs order by id limit 1 for update"
        ).fetchone()[0]
        deleted = await asyncio.wait_for(
            app.job_manager.delete_old_jobs(nb_hours=1, batch_size=2), 30
        )
        other.rollback()

    assert deleted == 4
    assert [row["id"] for row in db.execute("select id from procrastinate_jobs")] == [
        locked
    ]


async def test_the_builtin_task_deletes_in_batches(app, db, deletion_log):
    insert_jobs(db, 12, "succeeded", hours_ago=5)
    insert_jobs(db, 3, "failed", hours_ago=5, queue="other")
    insert_jobs(db, 2, "aborted", hours_ago=5)
    await app.configure_task(
        "builtin:procrastinate.builtin_tasks.remove_old_jobs", allow_unknown=False
    ).defer_async(max_hours=1, remove_failed=True, batch_size=5)

    await app.run_worker_async(queues=["builtin"], wait=False, install_signal_handlers=False)

    assert batches(db) == [5, 5, 5]
    # the aborted jobs stay, and so does the (recent) job that ran the task
    assert remaining(db) == {("aborted", True): 2, ("succeeded", False): 1}


async def test_the_builtin_task_limited_to_a_queue(app, db, deletion_log):
    insert_jobs(db, 4, "succeeded", hours_ago=5, queue="a")
    insert_jobs(db, 6, "succeeded", hours_ago=5, queue="b")
    await app.configure_task(
        "procrastinate.builtin_tasks.remove_old_jobs", allow_unknown=False
    ).defer_async(max_hours=1, queue="b", batch_size=4)

    await app.run_worker_async(queues=["builtin"], wait=False, install_signal_handlers=False)

    assert batches(db) == [4, 2]
    assert db.execute(
        "select queue_name, count(*) as n from procrastinate_jobs "
        "where finished_at < now() - interval '1 hour' group by queue_name"
    ).fetchall() == [{"queue_name": "a", "n": 4}]
