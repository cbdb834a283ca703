/** The most ids one ack frame may carry (the gateway's AckFrame schema). */
export const MAX_IDS_PER_ACK = 1000;

/**
 * 20 ms: the gateway writes acks in batches every 50 ms anyway, and a backlog handled at
 * ~1 ms a message goes out as one ack frame per ~20 messages instead of one each.
 */
export const DEFAULT_ACK_DELAY_MS = 20;

/**
 * The acks of one connection, sent together: at most `delayMs` after the first, or at
 * once when MAX_IDS_PER_ACK are waiting. Owned by the connection they go out on: acks of
 * a connection that closed are dropped, as the gateway pushes those messages again on the
 * next one (where they are acknowledged as duplicates).
 */
export class AckBatcher {
  readonly #send: (frame: string) => void;
  readonly #delayMs: number;
  #ids: string[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(send: (frame: string) => void, delayMs: number) {
    this.#send = send;
    this.#delayMs = delayMs;
  }

  add(id: string): void {
    this.#ids.push(id);
    if (this.#ids.length >= MAX_IDS_PER_ACK) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#delayMs);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#ids.length === 0) return;
    const ids = this.#ids;
    this.#ids = [];
    this.#send(JSON.stringify({ type: 'ack', ids }));
  }

  /** Drops what was not sent. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ids = [];
  }
}
