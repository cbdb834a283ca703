DELETE FROM tenant_quiet_hours WHERE tenant_id = $1
