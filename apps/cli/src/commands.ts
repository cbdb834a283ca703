import { parseArgs } from 'node:util';
import { createPool, createTenant, migrate, type TenantTier } from '@esh3ar/db';
import { TIERS } from '@esh3ar/runtime';
import type { Logger } from 'pino';
import type { CliConfig } from './config.ts';

import { runConfig } from './runtime-config.ts';
import { runDlqList, runDlqReplay } from './dlq.ts';
import { runTenantKey, runTenantList, runTenantSetDisabled } from './key-admin.ts';
import { runTokenMint } from './token.ts';
import { UsageError } from './usage-error.ts';
import { runTenantWebhook } from './webhooks.ts';

export { UsageError };

export const USAGE = `usage: pnpm esh3ar <command>
  migrate                                   apply database migrations (idempotent)
  tenant create --name NAME --tier basic|premium|enterprise [--rpm N --burst N]
                                            create a tenant; prints {"tenantId", "apiKey"}
  tenant list [--limit 100 --cursor C]      tenants, newest first: {"items": [{id, name, tier, rpm, burst, disabled, createdAt}], "nextCursor"}
  tenant disable | enable --tenant ID       refuse (401) or accept the tenant's keys again; prints the tenant
  tenant key create --tenant ID             another key for the tenant; prints {"keyId", "apiKey"} (shown once)
  tenant key list --tenant ID               its keys in use: {"items": [{keyId, createdAt, lastUsedAt}]}
  tenant key revoke --tenant ID --key KEYID refused by every api process within 2 s: {"tenantId", "keyId", "revoked"}
  tenant webhook set --tenant ID --url URL  POST the tenant's status changes there; prints {"tenantId", "url", "secret"}
  tenant webhook remove --tenant ID         stop, dropping the events not yet delivered: {"tenantId", "removed"}
  token mint --phone +E164 [--ttl 3600]     print a device token for the gateway (needs DEVICE_TOKEN_SECRET)
  config get                                the runtime configuration in force: {"version", "config"}
  config set KEY VALUE                      change one key (buffer.capacity 20000; VALUE is JSON or a string)
  config history [--limit 100]              the versions, newest first: {"items": [...]}
  config rollback VERSION                   store VERSION again as the newest (0: the built-in defaults)
  dlq list [--tenant ID --channel C --error TEXT --since T --until T --limit N]
                                            dead letters, newest first: {"items": [...]}
  dlq replay ID... | --all [filters]        send dead letters again (fresh retry budget): {"replayed", "ids"}`;

function positiveInt(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${name} must be an integer ≥ ${min}`);
  return Number(value);
}

export async function runMigrate(config: CliConfig, logger: Logger): Promise<string> {
  const applied = await migrate(config.postgres.url, logger);
  return JSON.stringify({ applied });
}

export async function runTenantCreate(config: CliConfig, args: string[]): Promise<string> {
  let values: { name?: string; tier?: string; rpm?: string; burst?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { name: { type: 'string' }, tier: { type: 'string' }, rpm: { type: 'string' }, burst: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!values.name?.trim()) throw new UsageError('--name is required');
  if (!values.tier || !(TIERS as readonly string[]).includes(values.tier))
    throw new UsageError(`--tier must be one of ${TIERS.join(', ')}`);
  const rpm = positiveInt('rpm', values.rpm, 1);
  const burst = positiveInt('burst', values.burst, 0);
  const pool = createPool(config.postgres.url, { max: 1, applicationName: 'esh3ar-cli' });
  try {
    const { tenant, apiKey } = await createTenant(pool, {
      name: values.name.trim(),
      tier: values.tier as TenantTier,
      rpm: rpm ?? null,
      burst: burst ?? null,
    });
    return JSON.stringify({ tenantId: tenant.id, apiKey });
  } finally {
    await pool.end();
  }
}

export async function run(argv: string[], config: CliConfig, logger: Logger): Promise<string> {
  const [command, sub, ...rest] = argv;
  switch (command) {
    case 'migrate':
      return runMigrate(config, logger);
    case 'tenant':
      if (sub === 'create') return runTenantCreate(config, rest);
      if (sub === 'webhook') return runTenantWebhook(config, rest[0], rest.slice(1));
      if (sub === 'list') return runTenantList(config, rest);
      if (sub === 'disable' || sub === 'enable') return runTenantSetDisabled(config, logger, sub === 'disable', rest);
      if (sub === 'key') return runTenantKey(config, logger, rest[0], rest.slice(1));
      throw new UsageError(`unknown tenant command "${sub ?? ''}"`);
    case 'config':
      return runConfig(config, logger, sub, rest);
    case 'dlq':
      if (sub === 'list') return runDlqList(config, rest);
      if (sub === 'replay') return runDlqReplay(config, rest);
      throw new UsageError(`unknown dlq command "${sub ?? ''}"`);
    case 'token':
      if (sub === 'mint') return runTokenMint(config, rest);
      throw new UsageError(`unknown token command "${sub ?? ''}"`);
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'a command is required');
  }
}
