-- Delivery receipts of provider $1, in order: ids $2, statuses $3 (delivered | failed),
-- recipients $4 (E.164, NULL when the receipt names none), event details $5 and failure
-- reasons $6. provider_receipts_record (migration 0012) owns what a receipt may change.
SELECT provider_receipts_record($1, $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS results
