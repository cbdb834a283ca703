import { expect, it } from 'vitest';
import { remember, type IdState } from './seen-ids.ts';

it('keeps the newest ids up to its bound, a re-remembered id counting as new', () => {
  const seen = new Map<string, IdState>();
  for (const id of ['a', 'b', 'c']) remember(seen, id, 'handling', 3);
  remember(seen, 'a', 'handled', 3);
  remember(seen, 'd', 'handling', 3);
  expect([...seen]).toEqual([
    ['c', 'handling'],
    ['a', 'handled'],
    ['d', 'handling'],
  ]);
});
