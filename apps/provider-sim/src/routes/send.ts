import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { simError, type SimError } from '../errors.ts';
import { decide, isChannel, type Channel, type ControlState, type Decision } from '../faults.ts';
import type { OutcomeCounters } from '../outcomes.ts';
import { recipientProblem } from '../recipient.ts';
import type { ReceivedStore } from '../store.ts';

export interface SendDeps {
  control: { state: ControlState };
  store: ReceivedStore;
  counters: OutcomeCounters;
  random: () => number;
  /** Aborted when the server closes: answers waiting out `latencyMs` are sent at once. */
  closing: AbortSignal;
}

// Unknown fields are ignored, as real providers do; the limits keep one item's share of
// the bounded store small (an email body of 64 Ki characters is generous).
const SendBody = Type.Object({
  to: Type.String({ minLength: 1, maxLength: 320 }),
  text: Type.String({ minLength: 1, maxLength: 65_536 }),
  subject: Type.Optional(Type.String({ maxLength: 1000 })),
});
type SendBody = Static<typeof SendBody>;
const bodyChecker = Compile(SendBody);

const FIELD_PROBLEMS: Record<string, string> = {
  to: 'to must be a string of 1 to 320 characters',
  text: 'text must be a string of 1 to 65536 characters',
  subject: 'subject must be a string of at most 1000 characters',
};

/** The public API caps its own Idempotency-Key at 255 characters too. */
const MAX_KEY_CHARS = 255;

interface Answer {
  status: number;
  body: { id: string; status: 'accepted'; duplicate: boolean } | SimError;
  retryAfterSeconds?: number;
}

type Parsed = { ok: true; body: SendBody; key: string } | { ok: false; message: string };

function parseRequest(request: FastifyRequest): Parsed {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0) return { ok: false, message: 'the Idempotency-Key header is required' };
  if (key.length > MAX_KEY_CHARS) return { ok: false, message: `the Idempotency-Key header must be at most ${MAX_KEY_CHARS} characters` };
  const raw = request.body;
  if (typeof raw !== 'string' || raw.trim() === '') return { ok: false, message: 'the body must be a JSON object with to and text' };
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return { ok: false, message: 'the body is not valid JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, message: 'the body must be a JSON object with to and text' };
  if (!bodyChecker.Check(body)) {
    const fields = new Set(
      [...bodyChecker.Errors(body)].map(
        (e) => e.instancePath.split('/')[1] || ((e.params as { requiredProperties?: string[] }).requiredProperties?.[0] ?? ''),
      ),
    );
    return {
      ok: false,
      message: [...fields].map((f) => FIELD_PROBLEMS[f] ?? 'the body must be a JSON object with to and text').join('; '),
    };
  }
  return { ok: true, body, key };
}

/** Everything a send does before its answer; an accepted message is recorded here, before any latency. */
function answerSend(channel: Channel, request: FastifyRequest, decision: Decision, deps: SendDeps): Answer {
  const parsed = parseRequest(request);
  if (!parsed.ok) {
    deps.counters.count(channel, 'invalid_request');
    return { status: 400, body: simError('INVALID_REQUEST', parsed.message) };
  }
  if (decision.outcome === 'injected') {
    deps.counters.count(channel, 'injected');
    return {
      status: decision.status,
      body: simError(decision.code, `injected fault (HTTP ${decision.status}) on channel ${channel}`),
      ...(decision.retryAfterSeconds === null ? {} : { retryAfterSeconds: decision.retryAfterSeconds }),
    };
  }
  const earlier = deps.store.find(channel, parsed.key);
  if (earlier) {
    deps.counters.count(channel, 'duplicate');
    return { status: 200, body: { id: earlier.id, status: 'accepted', duplicate: true } };
  }
  const problem = recipientProblem(channel, parsed.body.to);
  if (problem) {
    deps.counters.count(channel, 'invalid_recipient');
    return { status: 400, body: simError('INVALID_RECIPIENT', problem) };
  }
  const { to, text, subject } = parsed.body;
  const item = {
    id: `sim_${randomUUID()}`,
    channel,
    to,
    text,
    subject: subject ?? null,
    idempotencyKey: parsed.key,
    receivedAt: new Date().toISOString(),
  };
  const dropped = deps.store.add(item);
  deps.counters.count(channel, 'accepted');
  for (const old of dropped) deps.counters.dropped(old.channel, 1);
  return { status: 200, body: { id: item.id, status: 'accepted', duplicate: false } };
}

/** Resolves after `ms`, or at once when `signal` aborts (the server is closing). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms === 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function sendRoutes(app: FastifyInstance, deps: SendDeps): Promise<void> {
  // The body is read as text and parsed in the handler, so that a channel that is down
  // answers 503 whatever it is sent, and a malformed body is counted like other refusals.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.post('/v1/:channel/send', async (request, reply) => {
    const { channel } = request.params as { channel: string };
    if (!isChannel(channel)) return reply.code(404).send(simError('NOT_FOUND', `unknown channel ${channel}; one of sms, whatsapp, email`));
    const faults = deps.control.state[channel];
    const decision = decide(faults, deps.random);
    if (decision.outcome === 'down') {
      deps.counters.count(channel, 'down');
      return reply.code(503).send(simError('UNAVAILABLE', `channel ${channel} is down`));
    }
    const answer = answerSend(channel, request, decision, deps);
    await pause(faults.latencyMs, deps.closing);
    if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
    return reply.code(answer.status).send(answer.body);
  });
}
