-- A job claimed ahead by a worker (prefetch) and given back unstarted gets
-- its own event, released, instead of deferred_for_retry (which told an
-- operator that it ran and failed). A new enum value cannot be used in the
-- transaction that adds it: this step commits it before 0011 uses it.
-- Adding an enum value takes no lock on the tables that use the type.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

alter type procrastinate_job_event_type add value if not exists 'released' after 'retried';
