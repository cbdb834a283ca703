import { randomBytes } from 'node:crypto';
import { createApiKey, revokeApiKey } from '@esh3ar/db';
import { runCli, send, startApp, startStack, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * docs/operations.md: a deleted key is refused by every api process within 2 s. Two real api
 * processes of one stack, each with the key in its cache before the revocation.
 */

const ADMIN_TOKEN = `adm_${randomBytes(24).toString('base64url')}`;
const REVOCATION_MS = 2000;
let stack: Stack;
let apis: AppProcess[];

beforeAll(async () => {
  stack = await startStack('key-revocation', { env: { ADMIN_TOKEN } });
  apis = [stack.api!, await startApp('api', stack.env)];
});
afterAll(async () => {
  await apis?.[1]?.stop('SIGKILL');
  await stack?.close();
});

const message = { recipient: '+966501234567', content: 'hi' };

/** Both processes accept the key (so both hold it in their cache). */
async function warm(apiKey: string): Promise<void> {
  for (const api of apis) expect((await send(api.url, apiKey, 'POST', '/v1/messages', message)).status).toBe(202);
}

/** Resolves with the ms from `started` until every process answers `status` for the key. */
async function refusedByAll(apiKey: string, started: number, status = 401): Promise<number> {
  await Promise.all(
    apis.map((api) =>
      waitFor(
        () => send(api.url, apiKey, 'POST', '/v1/messages', message),
        (r) => r.status === status,
        REVOCATION_MS + 1000,
        20,
      ),
    ),
  );
  return Date.now() - started;
}

describe('revocation across api processes', () => {
  it("a key deleted through the admin API of one process is refused by both within 2 s; the tenant's other key keeps working", async () => {
    const { tenantId, apiKey } = await stack.tenant();
    const second = (await createApiKey(stack.pool, tenantId))!;
    await warm(apiKey);
    await warm(second.apiKey);
    const started = Date.now();
    expect((await send(apis[0]!.url, ADMIN_TOKEN, 'DELETE', `/v1/admin/tenants/${tenantId}/keys/${second.keyId}`)).status).toBe(204);
    expect(await refusedByAll(second.apiKey, started)).toBeLessThan(REVOCATION_MS);
    await warm(apiKey);
  });

  it('a key revoked with no notification at all (Redis refused the revoking process) is refused by both within 2 s, from the log in PostgreSQL', async () => {
    const { tenantId, apiKey } = await stack.tenant();
    const second = (await createApiKey(stack.pool, tenantId))!;
    await warm(second.apiKey);
    const started = Date.now();
    // What the admin API does, minus the Redis notification.
    expect(await revokeApiKey(stack.pool, tenantId, second.keyId)).not.toBeNull();
    expect(await refusedByAll(second.apiKey, started)).toBeLessThan(REVOCATION_MS);
    await warm(apiKey);
  });

  it('a tenant disabled with the CLI is refused by both within 2 s (401, saying so); enabled again, accepted by both', async () => {
    const { tenantId, apiKey } = await stack.tenant();
    await warm(apiKey);
    const disabled = await runCli(['tenant', 'disable', '--tenant', tenantId], stack.env);
    // From the CLI's exit, which follows its commit by milliseconds: its own start-up (a
    // second or more on a loaded machine) is not the revocation's latency.
    const started = Date.now();
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ id: tenantId, disabled: true });
    expect(await refusedByAll(apiKey, started)).toBeLessThan(REVOCATION_MS);
    const answer = await send(apis[1]!.url, apiKey, 'POST', '/v1/messages', message);
    expect(answer.body.error.message).toBe('this tenant is disabled');
    expect((await runCli(['tenant', 'enable', '--tenant', tenantId], stack.env)).code).toBe(0);
    expect(await refusedByAll(apiKey, Date.now(), 202)).toBeLessThan(REVOCATION_MS);
  });
});
