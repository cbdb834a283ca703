import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseFrame } from './frames.ts';

const ID = '01937a6e-0000-7000-8000-00000000000a';

/** The same frame in the form that always takes the general path (JSON.parse and the schema's check). */
const generally = (text: string) => parseFrame([Buffer.from(text)], false);
const parsed = (text: string) => parseFrame(Buffer.from(text), false);

describe('parseFrame', () => {
  it('reads the common ack form', () => {
    expect(parsed(JSON.stringify({ type: 'ack', id: ID }))).toEqual({ kind: 'ack', ids: [ID] });
    // A UUID's upper-case form (Swift's uuidString) is the same id, taken in lower case as the api writes it.
    expect(parsed(JSON.stringify({ type: 'ack', id: ID.toUpperCase() }))).toEqual({ kind: 'ack', ids: [ID] });
    expect(generally(JSON.stringify({ type: 'ack', ids: [ID.toUpperCase(), ID] }))).toEqual({ kind: 'ack', ids: [ID, ID] });
  });

  it('answers every frame near the common ack form as the general path does', () => {
    // Frames of the common form's length and shape, with any characters in the id, the
    // head or the tail: a fast path that took one of them wrongly would answer otherwise.
    const char = fc.constantFrom('0', 'a', 'F', 'g', '-', '"', '\\', ' ', '}', '{', 'é', '\u0000', '😀');
    const mutate = (text: string) =>
      fc.array(fc.tuple(fc.nat(text.length - 1), char), { maxLength: 3 }).map((edits) => {
        const chars = [...text];
        for (const [at, c] of edits) chars[Math.min(at, chars.length - 1)] = c;
        return chars.join('');
      });
    fc.assert(
      fc.property(mutate(JSON.stringify({ type: 'ack', id: ID })), (text) => {
        expect(parsed(text)).toEqual(generally(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('answers frames nested thousands deep as bad frames, without throwing', () => {
    // JSON.parse takes nesting that JSON.stringify runs out of stack on (~4,500 arrays deep):
    // a message that quoted the device's `type` back would throw, and take the gateway down.
    const arrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    const objects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    expect(parsed(`{"type":${arrays(10_000)}}`)).toEqual({
      kind: 'error',
      code: 'UNKNOWN_TYPE',
      message: 'unknown frame type an array; devices send {"type":"ack"}',
    });
    expect(parsed(`{"type":${objects(10_000)}}`)).toMatchObject({ code: 'UNKNOWN_TYPE', message: expect.stringContaining('an object') });
    for (const nested of [arrays(10_000), objects(10_000)])
      for (const text of [
        nested,
        `{"type":"ack","ids":${nested}}`,
        `{"type":"ack","id":${nested}}`,
        `{"type":"ack","id":"${ID}","x":${nested}}`,
      ])
        expect(parsed(text).kind, text.slice(0, 30)).toBe('error');
  });

  it('answers the other forms and bad frames as before', () => {
    for (const text of [
      JSON.stringify({ type: 'ack', ids: [ID, ID] }),
      JSON.stringify({ id: ID, type: 'ack' }),
      ` {"type":"ack","id":"${ID}"}`,
      `{"type":"ack","id":"${ID}"} `,
      `{"type":"ack","id":"${ID}","x":1}`,
      `{"type":"ack","id":"${ID.slice(0, 35)}"}`,
      `{"type":"ack","id":"${ID}0"}`,
      'not json',
      '{"type":"subscribe"}',
      '{"type":"ack"}',
      '{"type":"ack","ids":[]}',
    ]) {
      expect(parsed(text), text).toEqual(generally(text));
    }
    expect(parsed('{"type":"ack","ids":[]}')).toMatchObject({ kind: 'error', code: 'INVALID_ACK' });
    expect(parseFrame(Buffer.from(JSON.stringify({ type: 'ack', id: ID })), true)).toMatchObject({ kind: 'error', code: 'INVALID_FRAME' });
  });
});
