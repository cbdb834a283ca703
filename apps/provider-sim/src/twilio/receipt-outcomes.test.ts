import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pickReceiptStatus, readReceiptOutcomes, RECEIPT_STATUSES } from './receipt-outcomes.ts';

const NAME = 'PROVIDER_SIM_RECEIPT_OUTCOMES';
const read = (value?: string) => readReceiptOutcomes(value === undefined ? {} : { [NAME]: value }, NAME);

describe('readReceiptOutcomes', () => {
  it('delivers everything by default, and reads relative weights as shares', () => {
    expect(read()).toEqual([{ status: 'delivered', share: 1 }]);
    expect(read('delivered=0.9, undelivered=0.05,failed=0.05')).toEqual([
      { status: 'delivered', share: 0.9 },
      { status: 'undelivered', share: 0.05 },
      { status: 'failed', share: 0.05 },
    ]);
    expect(read('delivered=3,failed=1,undelivered=0')).toEqual([
      { status: 'delivered', share: 0.75 },
      { status: 'failed', share: 0.25 },
    ]);
  });

  it.each([
    ['delivered', 'status=weight pairs'],
    ['read=1', 'status=weight pairs'],
    ['delivered=-1', 'status=weight pairs'],
    ['delivered=x', 'status=weight pairs'],
    ['delivered=1=2', 'status=weight pairs'],
    ['delivered=1,', 'status=weight pairs'],
    ['delivered=1,delivered=2', 'names a status twice'],
    ['delivered=0,failed=0', 'needs a weight above 0'],
  ])('stops at %j with a message naming the variable', (value, message) => {
    expect(() => read(value)).toThrow(NAME);
    expect(() => read(value)).toThrow(message);
  });
});

describe('pickReceiptStatus', () => {
  it('gives each status the draws of its share, in order, and only statuses with a share', () => {
    const outcomes = read('delivered=0.5,undelivered=0.25,failed=0.25');
    expect([0, 0.49, 0.5, 0.74, 0.75, 0.999].map((d) => pickReceiptStatus(outcomes, () => d))).toEqual([
      'delivered',
      'delivered',
      'undelivered',
      'undelivered',
      'failed',
      'failed',
    ]);
    const weights = fc.tuple(...RECEIPT_STATUSES.map(() => fc.nat({ max: 10 }))).filter((w) => w.some((x) => x > 0));
    fc.assert(
      fc.property(weights, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (w, draw) => {
        const value = RECEIPT_STATUSES.map((status, i) => `${status}=${w[i]}`).join(',');
        const status = pickReceiptStatus(read(value), () => draw);
        expect(w[RECEIPT_STATUSES.indexOf(status)]).toBeGreaterThan(0);
      }),
    );
  });
});
