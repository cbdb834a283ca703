import { parseArgs } from 'node:util';
import { isUuid, webhookUrlProblem } from '@esh3ar/contracts';
import { removeTenantWebhook, setTenantWebhook } from '@esh3ar/db';
import type { CliConfig } from './config.ts';
import { withPool } from './cli-pool.ts';
import { UsageError } from './usage-error.ts';

function options(args: string[], withUrl: boolean): { tenant: string; url: string | undefined } {
  let values: { tenant?: string; url?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: withUrl ? { tenant: { type: 'string' }, url: { type: 'string' } } : { tenant: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!values.tenant || !isUuid(values.tenant)) throw new UsageError('--tenant must be a tenant id (a UUID)');
  return { tenant: values.tenant, url: values.url };
}

/**
 * `tenant webhook set --tenant ID --url URL` prints {"tenantId", "url", "secret"} (a new
 * secret on every set); `tenant webhook remove --tenant ID` prints {"tenantId", "removed"}
 * and drops the events still waiting for the endpoint.
 */
export async function runTenantWebhook(config: CliConfig, sub: string | undefined, args: string[]): Promise<string> {
  switch (sub) {
    case 'set': {
      const { tenant, url } = options(args, true);
      if (url === undefined) throw new UsageError('--url is required');
      const problem = webhookUrlProblem(url);
      if (problem !== null) throw new UsageError(`--${problem}`);
      const webhook = await withPool(config, (pool) => setTenantWebhook(pool, tenant, url));
      if (webhook === null) throw new Error(`no tenant ${tenant}`);
      return JSON.stringify(webhook);
    }
    case 'remove': {
      const { tenant } = options(args, false);
      const result = await withPool(config, (pool) => removeTenantWebhook(pool, tenant));
      if (result === null) throw new Error(`no tenant ${tenant}`);
      return JSON.stringify({ tenantId: tenant, removed: result.removed });
    }
    default:
      throw new UsageError(`unknown tenant webhook command "${sub ?? ''}"`);
  }
}
