-- The report of outcomes looks the jobs up by id, whatever the table's
-- statistics say (tests/py/sql/test_claim_cost.py once caught a bitmap scan
-- of the primary key with statistics taken while the table was empty; a
-- sequential scan would read every job): _procrastinate_apply_outcomes turns
-- bitmap and sequential scans off, as the claim and the notification
-- triggers already do. Same body, same signature.
-- A post migration: the code does not need it, and a pre after the post
-- migrations 0020-0033 would block the procrastinate 3.x conversion.
-- Altering a function takes no lock on the queue's tables; the timeouts bound
-- the wait on the catalog should anything hold it.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

alter function _procrastinate_apply_outcomes(bigint, jsonb, text, timestamptz)
set enable_bitmapscan = off;
alter function _procrastinate_apply_outcomes(bigint, jsonb, text, timestamptz)
set enable_seqscan = off;
