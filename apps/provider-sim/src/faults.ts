import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';

/** The provider channels the simulator stands in for. */
export const CHANNELS = ['sms', 'whatsapp', 'email'] as const;
export type Channel = (typeof CHANNELS)[number];

export const isChannel = (value: string): value is Channel => (CHANNELS as readonly string[]).includes(value);

/** The failure statuses a real provider answers with, and the code the simulator puts in the body. */
export const FAULT_CODES = {
  429: 'RATE_LIMITED',
  500: 'INTERNAL',
  502: 'BAD_GATEWAY',
  503: 'UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
} as const;
export type FaultStatus = keyof typeof FAULT_CODES;

/** The fault settings of one channel. */
export interface ChannelFaults {
  /** Probability, 0..1, that a send is answered `errorStatus` instead of being accepted. */
  errorRate: number;
  /** Delay before every answer of the channel's send endpoint. */
  latencyMs: number;
  /** Everything on the channel is answered 503 at once. */
  down: boolean;
  errorStatus: FaultStatus;
  /** Sent as `Retry-After` with an injected 429. */
  retryAfterSeconds: number;
}

export type ControlState = Readonly<Record<Channel, Readonly<ChannelFaults>>>;

export const DEFAULT_FAULTS: Readonly<ChannelFaults> = Object.freeze({
  errorRate: 0,
  latencyMs: 0,
  down: false,
  errorStatus: 503,
  retryAfterSeconds: 1,
});

export function defaultControl(): ControlState {
  return Object.freeze({ sms: DEFAULT_FAULTS, whatsapp: DEFAULT_FAULTS, email: DEFAULT_FAULTS });
}

// Five minutes: longer than any client timeout worth simulating, short enough that a
// typo (latencyMs in seconds × 1000 twice) does not hold connections for hours.
export const MAX_LATENCY_MS = 300_000;

/** The body of `PUT /control`: every key optional, none unknown. */
export const ControlChange = Type.Object(
  {
    errorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    latencyMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_LATENCY_MS })),
    down: Type.Optional(Type.Boolean()),
    errorStatus: Type.Optional(Type.Union([Type.Literal(429), Type.Literal(500), Type.Literal(502), Type.Literal(503), Type.Literal(504)])),
    retryAfterSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    channel: Type.Optional(Type.Union([Type.Literal('sms'), Type.Literal('whatsapp'), Type.Literal('email')])),
  },
  { additionalProperties: false },
);
export type ControlChange = Static<typeof ControlChange>;

const controlChecker = Compile(ControlChange);

const PROBLEMS: Record<string, string> = {
  errorRate: 'errorRate must be a number from 0 to 1',
  latencyMs: `latencyMs must be an integer from 0 to ${MAX_LATENCY_MS}`,
  down: 'down must be true or false',
  errorStatus: `errorStatus must be one of ${Object.keys(FAULT_CODES).join(', ')}`,
  retryAfterSeconds: 'retryAfterSeconds must be an integer from 1 to 86400',
  channel: `channel must be one of ${CHANNELS.join(', ')}`,
};

export type ControlCheck = { ok: true; value: ControlChange } | { ok: false; message: string };

export function checkControlChange(input: unknown): ControlCheck {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { ok: false, message: 'the body must be a JSON object' };
  if (controlChecker.Check(input)) return { ok: true, value: input };
  const messages = new Set<string>();
  for (const key of Object.keys(input)) {
    if (!(key in PROBLEMS)) messages.add(`unknown key ${key}`);
  }
  for (const error of controlChecker.Errors(input)) {
    const problem = PROBLEMS[error.instancePath.split('/')[1] ?? ''];
    if (problem) messages.add(problem);
  }
  return { ok: false, message: [...messages].join('; ') || 'the body does not match the control schema' };
}

/** The state after `change`: to its channel, or to every channel when it names none. */
export function applyControl(state: ControlState, change: ControlChange): ControlState {
  const { channel, ...settings } = change;
  const next = { ...state };
  for (const c of channel ? [channel] : CHANNELS) next[c] = Object.freeze({ ...state[c], ...settings });
  return Object.freeze(next);
}

export type Decision =
  | { outcome: 'pass' }
  | { outcome: 'down' }
  | { outcome: 'injected'; status: FaultStatus; code: (typeof FAULT_CODES)[FaultStatus]; retryAfterSeconds: number | null };

/**
 * What the channel does with the next send. `random` returns [0, 1) like Math.random,
 * so errorRate 0 never fails and errorRate 1 always does.
 */
export function decide(faults: ChannelFaults, random: () => number): Decision {
  if (faults.down) return { outcome: 'down' };
  if (faults.errorRate > 0 && random() < faults.errorRate) {
    const status = faults.errorStatus;
    return { outcome: 'injected', status, code: FAULT_CODES[status], retryAfterSeconds: status === 429 ? faults.retryAfterSeconds : null };
  }
  return { outcome: 'pass' };
}
