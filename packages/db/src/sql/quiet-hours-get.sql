SELECT tenant_id, to_char(starts, 'HH24:MI') AS starts, to_char(ends, 'HH24:MI') AS ends, default_time_zone, updated_at
FROM tenant_quiet_hours
WHERE ($1::uuid IS NULL OR tenant_id = $1::uuid)
