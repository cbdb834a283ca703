import { expect, it } from 'vitest';
import { AckBatcher, MAX_IDS_PER_ACK } from './ack-batcher.ts';

it('sends the ids added within the delay as one frame, and at once when a frame is full', async () => {
  const frames: { type: string; ids: string[] }[] = [];
  let sent: () => void = () => undefined;
  const batcher = new AckBatcher((frame) => {
    frames.push(JSON.parse(frame) as { type: string; ids: string[] });
    sent();
  }, 5);
  const first = new Promise<void>((resolve) => (sent = resolve));
  batcher.add('a');
  batcher.add('b');
  expect(frames).toEqual([]);
  await first;
  expect(frames).toEqual([{ type: 'ack', ids: ['a', 'b'] }]);

  const ids = Array.from({ length: MAX_IDS_PER_ACK + 1 }, (_, i) => `id-${i}`);
  for (const id of ids) batcher.add(id);
  expect(frames[1]!.ids).toEqual(ids.slice(0, MAX_IDS_PER_ACK));
  batcher.close();
  expect(frames).toHaveLength(2);
});
