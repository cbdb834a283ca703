import { ConfigError, readOptionalString, readUrl, type Env } from '@esh3ar/config';
import { CHANNEL_PROVIDERS, PROVIDER_CHANNELS, type ProviderChannel, type ProviderName } from '@esh3ar/contracts';
import type { MetaSettings } from './adapters/meta.ts';
import type { TwilioSettings } from './adapters/twilio.ts';
import { readSmtpSettings } from './smtp-settings.ts';

/** The variable that names each channel's providers. */
const PROVIDER_VARIABLES: Record<ProviderChannel, string> = {
  sms: 'SMS_PROVIDER',
  whatsapp: 'WHATSAPP_PROVIDER',
  email: 'EMAIL_PROVIDER',
};

/**
 * A channel's providers in failover order: `sim` (provider-sim) unless its variable says
 * otherwise; a comma-separated list is tried in order while the breakers of those before
 * are open. A provider that cannot send the channel, or one named twice, stops the worker.
 */
function readProviderList(env: Env, channel: ProviderChannel): readonly ProviderName[] {
  const variable = PROVIDER_VARIABLES[channel];
  const allowed: readonly string[] = CHANNEL_PROVIDERS[channel];
  const raw = readOptionalString(env, variable) ?? 'sim';
  const names = raw.split(',').map((name) => name.trim().toLowerCase());
  const expected = `a comma-separated list of ${allowed.join(', ')}`;
  for (const name of names) {
    if (name === '') throw new ConfigError(`${variable} must be ${expected}, got "${raw}"`);
    if (!allowed.includes(name)) throw new ConfigError(`${variable} must be ${expected}: ${name} does not send ${channel}`);
  }
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new ConfigError(`${variable} names ${twice} twice, got "${raw}"`);
  return names as ProviderName[];
}

function required(env: Env, name: string, why: string): string {
  const value = readOptionalString(env, name);
  if (value === null) throw new ConfigError(`${name} is required: ${why}`);
  return value;
}

/** What the channels that use a provider say about it, for the messages of required variables. */
const usedBy = (provider: ProviderName, channels: readonly ProviderChannel[]) =>
  `${channels.map((c) => PROVIDER_VARIABLES[c]).join(' and ')} name${channels.length === 1 ? 's' : ''} ${provider}`;

/** Twilio's settings, required only when a channel uses twilio (null otherwise). */
function readTwilioSettings(env: Env, channels: readonly ProviderChannel[]): TwilioSettings | null {
  if (channels.length === 0) return null;
  const why = usedBy('twilio', channels);
  const accountSid = required(env, 'TWILIO_ACCOUNT_SID', why);
  // An Account SID is AC and 32 hex digits: catches a token or an API key SID in its place.
  if (!/^AC[0-9a-fA-F]{32}$/.test(accountSid))
    throw new ConfigError(`TWILIO_ACCOUNT_SID must be an Account SID (AC and 32 hex digits), got "${accountSid}"`);
  return {
    accountSid,
    authToken: required(env, 'TWILIO_AUTH_TOKEN', why),
    from: channels.includes('sms') ? required(env, 'TWILIO_FROM', usedBy('twilio', ['sms'])) : readOptionalString(env, 'TWILIO_FROM'),
    whatsappFrom: channels.includes('whatsapp')
      ? required(env, 'TWILIO_WHATSAPP_FROM', usedBy('twilio', ['whatsapp']))
      : readOptionalString(env, 'TWILIO_WHATSAPP_FROM'),
    baseUrl: readUrl(env, 'TWILIO_BASE_URL', 'https://api.twilio.com', ['http:', 'https:']).replace(/\/$/, ''),
  };
}

/** Meta's WhatsApp Cloud API settings, required only when WHATSAPP_PROVIDER names meta (null otherwise). */
function readMetaSettings(env: Env, channels: readonly ProviderChannel[]): MetaSettings | null {
  if (channels.length === 0) return null;
  const why = usedBy('meta', channels);
  const token = required(env, 'META_WA_TOKEN', why);
  const phoneNumberId = required(env, 'META_WA_PHONE_NUMBER_ID', why);
  // A Graph object ID is digits: catches the phone number itself ("+1 555…") in its place.
  if (!/^[0-9]{1,32}$/.test(phoneNumberId))
    throw new ConfigError(`META_WA_PHONE_NUMBER_ID must be the phone number ID from WhatsApp Manager (digits), got "${phoneNumberId}"`);
  return {
    token,
    phoneNumberId,
    graphBaseUrl: readUrl(env, 'META_GRAPH_BASE_URL', 'https://graph.facebook.com/v21.0', ['http:', 'https:']).replace(/\/$/, ''),
  };
}

/**
 * The providers of each channel and their settings. Each provider's settings are read by
 * a `read<Provider>Settings(env, channels using it)` that returns null when no channel
 * uses it; Meta's WhatsApp Cloud API and SMTP take their place next to Twilio's.
 */
export function parseProviderConfig(env: Env) {
  const channels = Object.fromEntries(PROVIDER_CHANNELS.map((c) => [c, readProviderList(env, c)])) as Record<
    ProviderChannel,
    readonly ProviderName[]
  >;
  const using = (provider: ProviderName) => PROVIDER_CHANNELS.filter((c) => channels[c].includes(provider));
  const publicBaseUrl = readOptionalString(env, 'PUBLIC_BASE_URL');
  return {
    channels,
    /** The api's address as providers reach it, for their receipt callbacks (null: none asked for). */
    publicBaseUrl: publicBaseUrl === null ? null : readUrl(env, 'PUBLIC_BASE_URL', publicBaseUrl, ['http:', 'https:']).replace(/\/$/, ''),
    sim: { baseUrl: readUrl(env, 'PROVIDER_BASE_URL', 'http://127.0.0.1:3002', ['http:', 'https:']).replace(/\/$/, '') },
    twilio: readTwilioSettings(env, using('twilio')),
    meta: readMetaSettings(env, using('meta')),
    smtp: readSmtpSettings(env, using('smtp')),
  };
}
export type ProviderConfig = ReturnType<typeof parseProviderConfig>;
