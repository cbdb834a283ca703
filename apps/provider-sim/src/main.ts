import { createLogger, createRegistry } from '@esh3ar/observability';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { parseConfig, SHUTDOWN_GRACE_MS } from './config.ts';

const config = parseConfig(process.env);
const logger = createLogger('provider-sim', config.log.level);
const registry = createRegistry('provider-sim');

const app = await buildApp({
  logger,
  registry,
  limits: config.received,
  random: Math.random,
  twilio: config.twilio,
  meta: config.meta,
  receipts: config.receipts,
  smtp: config.smtp,
});

closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'stopping after an unexpected error');
  logger.info({ signal }, 'stopping: answering requests in flight without their remaining latency');
  await app.close();
  logger.info('stopped');
});

await app.listen({ host: config.http.host, port: config.http.port });
const address = app.server.address();
logger.info(
  { port: typeof address === 'object' && address ? address.port : config.http.port, smtpPort: app.smtpPort() },
  'provider-sim listening',
);
