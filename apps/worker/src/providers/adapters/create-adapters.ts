import { PROVIDER_CHANNELS, type ProviderChannel, type ProviderName } from '@esh3ar/contracts';
import type { Logger } from 'pino';
import type { ProviderConfig } from '../provider-config.ts';
import type { ProviderAdapter } from './adapter.ts';
import { createMetaAdapter } from './meta.ts';
import { createSimAdapter } from './sim.ts';
import { createSmtpAdapter } from './smtp.ts';
import { createTwilioAdapter, twilioStatusCallbackUrl } from './twilio.ts';

/** Each channel's adapters, in failover order. */
export type ChannelProviders = ReadonlyMap<ProviderChannel, readonly ProviderAdapter[]>;

export interface ProviderAdapters {
  /** One per provider named anywhere, shared by the channels that use it; close them all at shutdown. */
  adapters: readonly ProviderAdapter[];
  channels: ChannelProviders;
}

/**
 * The adapters the configuration names, each built once. A provider used by several
 * channels (Twilio: sms and whatsapp) gets connections for each channel's calls in
 * flight, `concurrency` per channel.
 */
export function createProviderAdapters(config: ProviderConfig, options: { concurrency: number; logger: Logger }): ProviderAdapters {
  const built = new Map<ProviderName, ProviderAdapter>();
  const connections = (provider: ProviderName) =>
    options.concurrency * PROVIDER_CHANNELS.filter((c) => config.channels[c].includes(provider)).length;
  const build = (provider: ProviderName): ProviderAdapter => {
    switch (provider) {
      case 'sim':
        return createSimAdapter(config.sim.baseUrl, connections('sim'));
      case 'twilio':
        if (config.publicBaseUrl === null)
          options.logger.warn('PUBLIC_BASE_URL is not set: Twilio will not report deliveries (no StatusCallback)');
        return createTwilioAdapter(config.twilio!, {
          statusCallbackUrl: config.publicBaseUrl === null ? null : twilioStatusCallbackUrl(config.publicBaseUrl),
          connections: connections('twilio'),
          logger: options.logger.child({ provider: 'twilio' }),
        });
      case 'meta':
        return createMetaAdapter(config.meta!, { connections: connections('meta'), logger: options.logger.child({ provider: 'meta' }) });
      case 'smtp':
        return createSmtpAdapter(config.smtp!, { connections: connections('smtp'), logger: options.logger.child({ provider: 'smtp' }) });
    }
  };
  const channels = new Map(
    PROVIDER_CHANNELS.map((channel) => [
      channel,
      config.channels[channel].map((provider) => {
        const adapter = built.get(provider) ?? build(provider);
        built.set(provider, adapter);
        return adapter;
      }),
    ]),
  );
  return { adapters: [...built.values()], channels };
}
