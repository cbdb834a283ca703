-- Tenant endpoints disabled after failing for retention.webhookDisableAfterHours.
SELECT count(*)::int AS disabled FROM tenant_webhooks WHERE disabled_at IS NOT NULL
