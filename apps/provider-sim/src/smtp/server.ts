import { randomUUID, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { decide, type ControlState } from '../faults.ts';
import type { OutcomeCounters } from '../outcomes.ts';
import { recipientProblem } from '../recipient.ts';
import { pause } from '../routes/send.ts';
import type { ReceivedStore } from '../store.ts';
import { DOWN_REPLY, FAULT_REPLIES, smtpReply } from './replies.ts';

/** PROVIDER_SIM_SMTP_*: where the SMTP server listens and the one account it takes. */
export interface SmtpAccount {
  host: string;
  /** 0: any free port, read back with `app.smtpPort()`. */
  port: number;
  user: string;
  pass: string;
}

export interface SmtpDeps {
  control: { state: ControlState };
  store: ReceivedStore;
  counters: OutcomeCounters;
  random: () => number;
  /** Aborted when the app closes: replies waiting out `latencyMs` are sent at once. */
  closing: AbortSignal;
  logger: FastifyBaseLogger;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The port of provider-sim's SMTP server once the app is ready; null before, or without one. */
    smtpPort(): number | null;
  }
}

/**
 * The largest message taken, in bytes: a /v1 email's 65,536 characters of Arabic are
 * ~175 KiB once UTF-8 and base64, so 1 MiB leaves room for headers and any encoding.
 * Larger: 552 (smtp-server's `rejectOversized`).
 */
const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Connections still open when the app closes get 421 after this: replies that wait out
 * latencyMs are sent at once on closing, so only idle pooled connections are left by then,
 * and 1 s keeps shutdown well within SHUTDOWN_GRACE_MS (10 s).
 */
const CLOSE_TIMEOUT_MS = 1000;

const sameSecret = (given: string | null | undefined, expected: string) => {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** Records an accepted message, once per Message-ID, and answers the final 250's text. */
function accept(mail: ParsedMail, session: SMTPServerSession, deps: SmtpDeps): string {
  const id = mail.messageId ?? `<sim_${randomUUID()}@provider-sim>`;
  if (deps.store.find('email', id) !== undefined) {
    deps.counters.count('email', 'duplicate');
    return `OK: ${id} was accepted before`;
  }
  const dropped = deps.store.add({
    id,
    channel: 'email',
    to: session.envelope.rcptTo[0]?.address ?? '',
    text: mail.text ?? '',
    subject: mail.subject ?? null,
    idempotencyKey: id,
    receivedAt: new Date().toISOString(),
  });
  deps.counters.count('email', 'accepted');
  for (const old of dropped) deps.counters.dropped(old.channel, 1);
  return `OK: queued as ${id}`;
}

/** The reply to DATA once the whole message is in: down, an injected fault, or accepted; all but down after latencyMs. */
async function answerData(stream: SMTPServerDataStream, session: SMTPServerSession, deps: SmtpDeps): Promise<Error | string> {
  const mail = await simpleParser(stream);
  const faults = deps.control.state.email;
  const decision = decide(faults, deps.random);
  if (decision.outcome === 'down') {
    deps.counters.count('email', 'down');
    return smtpReply(DOWN_REPLY.code, DOWN_REPLY.message);
  }
  let answer: Error | string;
  if (decision.outcome === 'injected') {
    deps.counters.count('email', 'injected');
    const { code, message } = FAULT_REPLIES[decision.status];
    answer = smtpReply(code, message);
  } else {
    answer = accept(mail, session, deps);
  }
  await pause(faults.latencyMs, deps.closing);
  return answer;
}

/**
 * provider-sim's SMTP server (documented in app.ts), a real one from nodemailer's
 * `smtp-server` (https://nodemailer.com/extras/smtp-server) over the simulator's email
 * channel: its fault injection, its received store and its counters. Plain SMTP without
 * STARTTLS (`secure: false`, `disabledCommands: ['STARTTLS']`: there is no certificate
 * locally), so AUTH is allowed without TLS (`allowInsecureAuth`). Messages are parsed with
 * `mailparser`'s simpleParser, which decodes what a hand-written reader would get wrong:
 * RFC 2047 encoded-word subjects, quoted-printable and base64 bodies, charsets.
 * Listens when the app is ready, closes with it; `app.smtpPort()` answers its port.
 */
export function smtpServer(app: FastifyInstance, account: SmtpAccount | undefined, deps: SmtpDeps): void {
  let port: number | null = null;
  app.decorate('smtpPort', () => port);
  if (account === undefined) return;

  const server = new SMTPServer({
    name: 'provider-sim',
    secure: false,
    disabledCommands: ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    size: MAX_MESSAGE_BYTES,
    rejectOversized: true,
    // One message is one recipient here, as the worker sends them; more get 452 (RFC 5321 §4.5.3.1.10).
    maxRecipients: 1,
    closeTimeout: CLOSE_TIMEOUT_MS,
    logger: false,
    onConnect(_session, callback) {
      if (!deps.control.state.email.down) return callback();
      deps.counters.count('email', 'down');
      callback(smtpReply(DOWN_REPLY.code, DOWN_REPLY.message));
    },
    onAuth(auth, _session, callback) {
      if (sameSecret(auth.username, account.user) && sameSecret(auth.password, account.pass))
        return callback(null, { user: auth.username });
      deps.counters.count('email', 'invalid_request');
      callback(smtpReply(535, 'Authentication credentials invalid'));
    },
    onMailFrom(_address, _session, callback) {
      if (!deps.control.state.email.down) return callback();
      deps.counters.count('email', 'down');
      callback(smtpReply(DOWN_REPLY.code, DOWN_REPLY.message));
    },
    onRcptTo(address, _session, callback) {
      const problem = recipientProblem('email', address.address);
      if (problem === null) return callback();
      deps.counters.count('email', 'invalid_recipient');
      callback(smtpReply(550, `No such user <${address.address}>: ${problem}`));
    },
    onData(stream, session, callback) {
      void answerData(stream, session, deps).then(
        (answer) => (typeof answer === 'string' ? callback(null, answer) : callback(answer)),
        (error: unknown) => callback(error as Error),
      );
    },
  });
  // A client that drops its connection (a reset, a timed-out send) is reported here, not thrown.
  server.on('error', (err) => deps.logger.warn({ err }, 'SMTP connection failed'));

  app.addHook('onReady', async () => {
    server.listen(account.port, account.host);
    await once(server.server, 'listening');
    port = (server.server.address() as AddressInfo).port;
  });
  app.addHook('onClose', async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}
