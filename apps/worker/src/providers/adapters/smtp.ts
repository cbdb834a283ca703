import nodemailer, { type SendMailOptions } from 'nodemailer';
import type { Logger } from 'pino';
import { unanswered, type ProviderAdapter, type SendRequest } from './adapter.ts';
import { classifySmtpFailure } from './smtp-errors.ts';

/** SMTP_URL and EMAIL_FROM, read by providers/smtp-settings.ts. */
export interface SmtpSettings {
  host: string;
  /** SMTP_URL's port; without one 587 (submission) for smtp:, 465 for smtps:. */
  port: number;
  /** smtps: TLS from the first byte. smtp: plain, upgraded with STARTTLS when the server offers it. */
  secure: boolean;
  /** SMTP_URL's user and password (AUTH PLAIN or LOGIN, whichever the server offers), or null: the server takes mail without AUTH. */
  auth: { user: string; pass: string } | null;
  /** EMAIL_FROM as given: an address, or `Name <address>`. */
  from: string;
  /** The domain of EMAIL_FROM's address, the right-hand side of our Message-IDs. */
  messageIdDomain: string;
}

/** A message's Message-ID (RFC 5322 §3.6.4): our id at the sender's domain, unique because our ids are. */
export const smtpMessageId = (messageId: string, domain: string) => `<${messageId}@${domain}>`;

/**
 * One email as nodemailer composes it (https://nodemailer.com/message): From EMAIL_FROM,
 * To the recipient, `subject` as Subject (none when the message has none), `content` as
 * the text/plain part (nodemailer declares charset=utf-8 and picks quoted-printable or
 * base64 for non-ASCII text), and our Message-ID (`messageId`) instead of one nodemailer
 * would make up. SMTP has no validity period: the TTL is enforced before the call.
 */
export function smtpMailOptions(settings: SmtpSettings, request: SendRequest): SendMailOptions {
  const { channel, message } = request;
  if (channel !== 'email') throw new Error(`smtp sends email, not ${channel}`);
  return {
    from: settings.from,
    to: message.recipient,
    ...(message.subject === null ? {} : { subject: message.subject }),
    text: message.content,
    messageId: smtpMessageId(message.id, settings.messageIdDomain),
  };
}

export interface SmtpAdapterOptions {
  /** Connections at most: the calls in flight of the email channel. */
  connections: number;
  logger: Logger;
}

/**
 * Email over SMTP with nodemailer's pooled transport (https://nodemailer.com/smtp/pooled):
 * `connections` authenticated connections kept open and reused, one message at a time
 * each, so a send costs MAIL FROM, RCPT TO and DATA rather than a TCP (and TLS)
 * handshake, EHLO and AUTH. Each connection is replaced after `maxMessages` 100
 * (nodemailer's default) and closed after 4 minutes idle (its `idleTimeout`, under the
 * 5 minutes RFC 5321 §4.5.3.2.7 lets a server wait before dropping it).
 *
 * The provider message id is our Message-ID, which `info.messageId` reports back: SMTP
 * has no delivery receipts, so `sent` is where an email's statuses end, and a bounce
 * (DSN) quotes that Message-ID. `info.response`, the server's final 250 with its own queue
 * id, is not kept.
 *
 * The policy's timeout (PROVIDER_TIMEOUT_MS) reaches the send as `signal`, which
 * nodemailer takes per message since 10.5 (SendMailOptions.signal): a message still
 * queued in the pool is dropped, one being sent has its connection closed. Before the
 * final "." nothing is delivered (RFC 5321 §3.8: the server discards the transaction);
 * after it, the server may have queued the message with its 250 lost ("aborting does not
 * prove that the server has not already accepted the message", nodemailer's docs). The
 * retry then sends it again with the same Message-ID, which mail systems use to spot
 * duplicates. connectionTimeout (2 min), greetingTimeout (30 s) and socketTimeout
 * (10 min) stay nodemailer's: during a send the signal ends the wait first.
 */
export function createSmtpAdapter(settings: SmtpSettings, options: SmtpAdapterOptions): ProviderAdapter {
  const transport = nodemailer.createTransport({
    pool: true,
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    ...(settings.auth === null ? {} : { auth: settings.auth }),
    maxConnections: options.connections,
    maxMessages: 100,
    // One more connection for a message whose pooled connection the server had closed while
    // idle (none of it sent, so no duplicate); nodemailer's 5 would retry a server that
    // drops every connection for seconds. Retries are BullMQ's.
    maxRequeues: 1,
  });

  return {
    name: 'smtp',
    async send(request, signal) {
      const mail = smtpMailOptions(settings, request);
      try {
        const info = await transport.sendMail({ ...mail, signal });
        return { providerMessageId: info.messageId };
      } catch (error) {
        if (signal.aborted) throw unanswered('smtp', error, signal);
        const { error: failure, check } = classifySmtpFailure(error);
        if (check !== null)
          options.logger.error({ provider: 'smtp', reason: failure.message }, `SMTP server refused our account: check ${check}`);
        throw failure;
      }
    },
    // Idle connections close at once (QUIT); the worker has finished its sends by now.
    close: async () => transport.close(),
  };
}
