import {
  ConfigError,
  deepFreeze,
  parseCommonConfig,
  readInt,
  readOptionalString,
  readPort,
  readString,
  readUrl,
  type Env,
} from '@esh3ar/config';
import { readReceiptOutcomes } from './twilio/receipt-outcomes.ts';

/**
 * How long stopping may take after SIGTERM before close-with-grace exits with code 1:
 * requests in flight are answered at once, without their remaining latency. infra/ gives
 * the container longer before SIGKILL (infra/infra.test.ts and infra/k8s.test.ts check
 * it).
 */
export const SHUTDOWN_GRACE_MS = 10_000;

/** An Account SID as Twilio's are (AC and 32 hex digits), which the worker checks TWILIO_ACCOUNT_SID against too. */
function readAccountSid(env: Env): string {
  const sid = readString(env, 'PROVIDER_SIM_TWILIO_ACCOUNT_SID', `AC${'0'.repeat(32)}`);
  if (!/^AC[0-9a-fA-F]{32}$/.test(sid)) throw new ConfigError(`PROVIDER_SIM_TWILIO_ACCOUNT_SID must be AC and 32 hex digits, got "${sid}"`);
  return sid;
}

function readOptionalUrl(env: Env, name: string): string | null {
  const value = readOptionalString(env, name);
  return value === null ? null : readUrl(env, name, value, ['http:', 'https:']);
}

export function parseConfig(env: Env) {
  // Only HOST and LOG_LEVEL of the shared settings: the simulator uses neither PostgreSQL
  // nor Redis, so their variables must not stop it.
  const common = parseCommonConfig({ HOST: env.HOST, LOG_LEVEL: env.LOG_LEVEL });
  return deepFreeze({
    log: common.log,
    http: { host: common.host, port: readPort(env, 'PROVIDER_SIM_PORT', 3002) },
    received: {
      maxItems: readInt(env, 'PROVIDER_SIM_MAX_RECEIVED', 100_000, 1, 10_000_000),
      // 50 M characters ≈ 100 MB of strings: room for 100,000 messages of 500 characters.
      maxChars: readInt(env, 'PROVIDER_SIM_MAX_RECEIVED_CHARS', 50_000_000, 1_000, 1_000_000_000),
    },
    twilio: {
      accountSid: readAccountSid(env),
      authToken: readString(env, 'PROVIDER_SIM_TWILIO_AUTH_TOKEN', 'provider-sim-auth-token'),
    },
    meta: {
      token: readString(env, 'PROVIDER_SIM_META_TOKEN', 'provider-sim-meta-token'),
      appSecret: readString(env, 'PROVIDER_SIM_META_APP_SECRET', 'provider-sim-meta-app-secret'),
      // The api's /v1/providers/meta/webhook, where Meta's app settings would point; unset: no webhooks.
      webhookUrl: readOptionalUrl(env, 'PROVIDER_SIM_META_WEBHOOK_URL'),
    },
    smtp: {
      host: common.host,
      // 2525: the usual unprivileged stand-in for port 25/587.
      port: readPort(env, 'PROVIDER_SIM_SMTP_PORT', 2525),
      user: readString(env, 'PROVIDER_SIM_SMTP_USER', 'provider-sim'),
      pass: readString(env, 'PROVIDER_SIM_SMTP_PASS', 'provider-sim-smtp-pass'),
    },
    receipts: {
      // About as soon as Twilio reports a delivered SMS; 0 in tests that await the callback.
      delayMs: readInt(env, 'PROVIDER_SIM_RECEIPT_DELAY_MS', 1000, 0, 3_600_000),
      outcomes: readReceiptOutcomes(env, 'PROVIDER_SIM_RECEIPT_OUTCOMES'),
    },
  });
}
