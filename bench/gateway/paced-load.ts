import { connect, type Socket } from 'node:net';
import { AnswerReader, requestBytes, type Answer } from '../lib/raw-http.ts';

/**
 * The gateway phase's messages: one sequence number each, written into the message
 * content (`esh3ar bench #<seq>`) so that a frame can be matched to its send time
 * even when it reaches the device before the 202 carrying its id has been read.
 */
export const CONTENT_PREFIX = 'esh3ar bench #';

/** What became of a message's request. */
export const Outcome = { InFlight: 0, Accepted: 1, Refused: 2, RequestFailed: 3 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** Per message, by sequence number: plain arrays, no objects per message. */
export class MessageLog {
  /** performance.now() just before its HTTP request was issued. */
  readonly sentAt: number[] = [];
  /** performance.now() when its first frame reached a device (undefined: not yet). */
  readonly arrivedAt: (number | undefined)[] = [];
  /** The frame's createdAt: when the api accepted it, on the api's clock (epoch ms). */
  readonly acceptedAtEpoch: (number | undefined)[] = [];
  readonly arrivals: number[] = [];
  readonly outcome: Outcome[] = [];
  /** The id the 202 gave, and the id the frame carried. */
  readonly ids: (string | undefined)[] = [];
  readonly frameIds: (string | undefined)[] = [];
  /** Message frames that named no message of this log. */
  foreignFrames = 0;

  get size(): number {
    return this.sentAt.length;
  }

  issue(at: number): number {
    const seq = this.sentAt.length;
    this.sentAt.push(at);
    this.arrivedAt.push(undefined);
    this.acceptedAtEpoch.push(undefined);
    this.arrivals.push(0);
    this.outcome.push(Outcome.InFlight);
    this.ids.push(undefined);
    this.frameIds.push(undefined);
    return seq;
  }

  /** A frame for `content` reached a device at `at` (performance.now()). */
  arrived(content: unknown, id: string, createdAt: unknown, at: number): void {
    const seq =
      typeof content === 'string' && content.startsWith(CONTENT_PREFIX) ? Number(content.slice(CONTENT_PREFIX.length)) : Number.NaN;
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.sentAt.length) {
      this.foreignFrames++;
      return;
    }
    if (this.arrivals[seq]!++ > 0) return; // a re-push: counted, the first arrival stands
    this.arrivedAt[seq] = at;
    this.frameIds[seq] = id;
    if (typeof createdAt === 'string') this.acceptedAtEpoch[seq] = Date.parse(createdAt);
  }

  /** Accepted messages in [from, to) that no device has received yet. */
  missing(from: number, to: number): number {
    let n = 0;
    for (let seq = from; seq < to; seq++) if (this.outcome[seq] === Outcome.Accepted && this.arrivedAt[seq] === undefined) n++;
    return n;
  }
}

export interface OfferResult {
  /** Offered: messages per second, in batches of `batchSize` (one batch every batchSize/rate s). */
  rate: number;
  seconds: number;
  batchSize: number;
  fromSeq: number;
  toSeq: number;
  /** performance.now(): first batch issued, last batch issued, last answer read. */
  startedAt: number;
  offeredUntil: number;
  answeredUntil: number;
  requests: number;
  statusCodes: Record<string, number>;
  requestErrors: Record<string, number>;
  accepted: number;
  refused: number;
  /** How late the most delayed batch was issued (the load generator's own lag). */
  maxIssueLagMs: number;
}

interface Job {
  bytes: Buffer;
  resolve: (answer: Answer) => void;
  reject: (error: unknown) => void;
}

interface Lane {
  socket: Socket;
  reader: AnswerReader;
  closed: boolean;
}

// Keep-alive connections to the api at most; at 8,000 msg/s in batches of 80 a few suffice.
const MAX_LANES = 64;

/**
 * POST /v1/messages/batch at a paced, open-loop rate to random phones, over a pool
 * of raw keep-alive sockets (bench/lib/raw-http.ts): a batch that cannot go out at once
 * waits for a free connection, and its wait counts in its latency.
 */
export class PacedSender {
  readonly #hostname: string;
  readonly #port: number;
  readonly #headers: Record<string, string>;
  readonly #phones: readonly string[];
  readonly #log: MessageLog;
  readonly #idle: Lane[] = [];
  readonly #queue: Job[] = [];
  #lanes = 0;

  constructor(apiUrl: string, apiKey: string, phones: readonly string[], log: MessageLog) {
    const { hostname, port } = new URL(apiUrl);
    this.#hostname = hostname;
    this.#port = Number(port);
    this.#headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` };
    this.#phones = phones;
    this.#log = log;
  }

  /**
   * Offers `rate` messages/s for `seconds`; `onOffered` runs once the last batch is
   * issued. Resolves once every request has been answered (or has failed).
   */
  async offer(rate: number, seconds: number, batchSize: number, onOffered?: () => void): Promise<OfferResult> {
    const intervalMs = (batchSize / rate) * 1000;
    const batches = Math.max(1, Math.round((rate * seconds) / batchSize));
    const result: OfferResult = {
      rate,
      seconds,
      batchSize,
      fromSeq: this.#log.size,
      toSeq: this.#log.size,
      startedAt: performance.now(),
      offeredUntil: 0,
      answeredUntil: 0,
      requests: 0,
      statusCodes: {},
      requestErrors: {},
      accepted: 0,
      refused: 0,
      maxIssueLagMs: 0,
    };
    const inFlight: Promise<void>[] = [];
    for (let issued = 0; issued < batches;) {
      const dueAt = result.startedAt + issued * intervalMs;
      const now = performance.now();
      if (now < dueAt) {
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.floor(dueAt - now))));
        continue;
      }
      result.maxIssueLagMs = Math.max(result.maxIssueLagMs, now - dueAt);
      inFlight.push(this.#sendBatch(batchSize, result));
      issued++;
    }
    result.offeredUntil = performance.now();
    result.toSeq = this.#log.size;
    onOffered?.();
    await Promise.all(inFlight);
    result.answeredUntil = performance.now();
    return result;
  }

  async #sendBatch(size: number, result: OfferResult): Promise<void> {
    const at = performance.now();
    const first = this.#log.size;
    let body = '{"messages":[';
    for (let i = 0; i < size; i++) {
      const seq = this.#log.issue(at);
      const phone = this.#phones[Math.floor(Math.random() * this.#phones.length)]!;
      body += `${i === 0 ? '' : ','}{"recipient":"${phone}","content":"${CONTENT_PREFIX}${seq}","priority":"normal"}`;
    }
    body += ']}';
    result.requests++;
    const outcome = this.#log.outcome;
    try {
      const answer = await this.#request(
        requestBytes(
          { name: 'esh3ar', url: '', path: '/v1/messages/batch', headers: this.#headers, body },
          `${this.#hostname}:${this.#port}`,
          false,
        ),
      );
      result.statusCodes[answer.status] = (result.statusCodes[answer.status] ?? 0) + 1;
      if (answer.status !== 202) {
        for (let i = 0; i < size; i++) outcome[first + i] = Outcome.Refused;
        result.refused += size;
        return;
      }
      const parsed = JSON.parse(answer.body) as { results: { index: number; id?: string }[] };
      for (const r of parsed.results) {
        if (r.id) {
          outcome[first + r.index] = Outcome.Accepted;
          this.#log.ids[first + r.index] = r.id;
          result.accepted++;
        } else {
          outcome[first + r.index] = Outcome.Refused;
          result.refused++;
        }
      }
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).message;
      result.requestErrors[code] = (result.requestErrors[code] ?? 0) + 1;
      // Unanswered: it may have been accepted and stored; only answered 202s are counted.
      for (let i = 0; i < size; i++) outcome[first + i] = Outcome.RequestFailed;
    }
  }

  #request(bytes: Buffer): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ bytes, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let lane = this.#idle.pop();
      while (lane?.closed) lane = this.#idle.pop();
      if (!lane && this.#lanes < MAX_LANES) lane = this.#open();
      if (!lane) return;
      void this.#run(lane, this.#queue.shift()!);
    }
  }

  #open(): Lane {
    this.#lanes++;
    const socket = connect({ host: this.#hostname, port: this.#port, noDelay: true });
    const lane: Lane = { socket, reader: new AnswerReader(socket), closed: false };
    socket.once('close', () => {
      if (!lane.closed) this.#lanes--;
      lane.closed = true;
    });
    return lane;
  }

  async #run(lane: Lane, job: Job): Promise<void> {
    lane.socket.write(job.bytes);
    try {
      job.resolve(await lane.reader.next());
      if (!lane.closed) this.#idle.push(lane);
    } catch (error) {
      job.reject(error);
      lane.socket.destroy();
    }
    this.#dispatch();
  }

  close(): void {
    for (const lane of this.#idle) lane.socket.destroy();
    this.#idle.length = 0;
  }
}
