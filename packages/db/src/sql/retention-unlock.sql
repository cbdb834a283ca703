SELECT pg_advisory_unlock(hashtext('esh3ar.retention'))
