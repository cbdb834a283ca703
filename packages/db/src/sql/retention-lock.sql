-- One purger at a time across all workers: a session lock, held by the connection that runs
-- the batches and released when it ends (or dies). False: another worker holds it.
SELECT pg_try_advisory_lock(hashtext('esh3ar.retention')) AS locked
