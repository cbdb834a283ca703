-- Sets a tenant's quiet hours; no row when the tenant does not exist.
INSERT INTO tenant_quiet_hours (tenant_id, starts, ends, default_time_zone)
SELECT id, $2::time, $3::time, $4 FROM tenants WHERE id = $1
ON CONFLICT (tenant_id) DO UPDATE SET starts = EXCLUDED.starts, ends = EXCLUDED.ends,
  default_time_zone = EXCLUDED.default_time_zone, updated_at = now()
RETURNING tenant_id, to_char(starts, 'HH24:MI') AS starts, to_char(ends, 'HH24:MI') AS ends, default_time_zone, updated_at
