import { ConfigError, readOptionalString, type Env } from '@esh3ar/config';
import type { ProviderChannel } from '@esh3ar/contracts';
import type { SmtpSettings } from './adapters/smtp.ts';

const WHY = 'EMAIL_PROVIDER names smtp';
const URL_SHAPE = 'smtp://user:pass@host:port (smtps:// for TLS from the start)';
/** The public API's pattern for email recipients (packages/contracts message.ts), with the domain captured. */
const ADDRESS = /^[^@\s<>]{1,64}@([^@\s<>]+\.[^@\s<>]+)$/;
/** `Display Name <address>`, or the bare address. */
const NAME_ADDR = /^[^<>]*<([^<>]*)>$/;

function required(env: Env, name: string): string {
  const value = readOptionalString(env, name);
  if (value === null || value.trim() === '') throw new ConfigError(`${name} is required: ${WHY}`);
  return value.trim();
}

/** The server and credentials of SMTP_URL. Messages never repeat the value: it holds the password. */
function readSmtpUrl(env: Env): Pick<SmtpSettings, 'host' | 'port' | 'secure' | 'auth'> {
  const raw = required(env, 'SMTP_URL');
  if (!URL.canParse(raw)) throw new ConfigError(`SMTP_URL must be a URL like ${URL_SHAPE}`);
  const url = new URL(raw);
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    throw new ConfigError(`SMTP_URL must use smtp: or smtps:, got "${url.protocol}" (${URL_SHAPE})`);
  if (url.hostname === '') throw new ConfigError(`SMTP_URL has no host (${URL_SHAPE})`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '')
    throw new ConfigError(`SMTP_URL must have nothing after host:port (${URL_SHAPE})`);
  if (url.port === '0') throw new ConfigError('SMTP_URL must have a port from 1 to 65535');
  const secure = url.protocol === 'smtps:';
  let auth: SmtpSettings['auth'] = null;
  if (url.username !== '' || url.password !== '') {
    try {
      auth = { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) };
    } catch {
      throw new ConfigError("SMTP_URL's user or password is not valid percent-encoding (write @ as %40, : as %3A, % as %25)");
    }
  }
  return {
    // An IPv6 literal comes as [::1]; the socket wants it without brackets.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
    secure,
    auth,
  };
}

/** EMAIL_FROM and the domain of its address, for Message-IDs. */
function readEmailFrom(env: Env): Pick<SmtpSettings, 'from' | 'messageIdDomain'> {
  const from = required(env, 'EMAIL_FROM');
  const address = (NAME_ADDR.exec(from)?.[1] ?? from).trim();
  const domain = ADDRESS.exec(address)?.[1];
  if (domain === undefined) throw new ConfigError(`EMAIL_FROM must be an email address or "Name <address>", got "${from}"`);
  return { from, messageIdDomain: domain.toLowerCase() };
}

/** SMTP's settings, required only when the email channel uses smtp (null otherwise). */
export function readSmtpSettings(env: Env, channels: readonly ProviderChannel[]): SmtpSettings | null {
  if (channels.length === 0) return null;
  return { ...readSmtpUrl(env), ...readEmailFrom(env) };
}
