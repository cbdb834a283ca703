import { describe, expect, it } from 'vitest';
import { parseProviderRates, rateLimit } from './provider-rates.ts';

describe('parseProviderRates', () => {
  it('limits Twilio and Meta by default and leaves provider-sim and SMTP unlimited', () => {
    expect(parseProviderRates({})).toEqual({ sim: null, twilio: 100, meta: 80, smtp: null });
  });

  it('reads each <PROVIDER>_RATE_PER_SECOND: a whole number, or unlimited', () => {
    expect(
      parseProviderRates({
        SIM_RATE_PER_SECOND: '5000',
        TWILIO_RATE_PER_SECOND: ' 3 ',
        META_RATE_PER_SECOND: 'Unlimited',
        SMTP_RATE_PER_SECOND: '14',
      }),
    ).toEqual({ sim: 5000, twilio: 3, meta: null, smtp: 14 });
    for (const bad of ['0', '-1', '2.5', 'fast', '1000001'])
      expect(() => parseProviderRates({ TWILIO_RATE_PER_SECOND: bad })).toThrow(`TWILIO_RATE_PER_SECOND must be a whole number`);
  });

  it('gives a bucket a tenth of a second of the rate, at least one token', () => {
    expect(rateLimit(5000)).toEqual({ perSecond: 5000, burst: 500 });
    expect(rateLimit(3)).toEqual({ perSecond: 3, burst: 1 });
  });
});
