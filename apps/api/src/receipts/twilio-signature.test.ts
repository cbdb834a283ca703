import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { twilioReference, twilioSignedData } from './provider-signatures.test-kit.ts';
import { twilioSignature, twilioSignedUrls, verifyTwilioSignature } from './twilio-signature.ts';

const TOKEN = 'a3f1c2d4e5b6a7980123456789abcdef';

/** Form fields with distinct names, as a status callback has. */
const nameArb = fc.string({ minLength: 1, maxLength: 12 }).filter((name) => name !== '__proto__');
const fieldsArb = fc.dictionary(nameArb, fc.string({ maxLength: 24 }), { maxKeys: 12 });
const urlArb = fc
  .tuple(
    fc.constantFrom('https://esh3ar.example.com', 'https://esh3ar.example.com:8443/base', 'http://10.0.0.7:3000'),
    fc.webPath(),
    fc.option(fc.webQueryParameters(), { nil: undefined }),
  )
  .map(([base, path, query]) => `${base}/v1/providers/twilio/status${path}${query === undefined ? '' : `?${query}`}`);

describe('twilioSignature', () => {
  it('matches the vector of twilio-node (spec/validation.spec.js)', () => {
    const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
    const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
    expect(twilioSignature('12345', url, params)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    expect(verifyTwilioSignature('12345', url, params, 'RSOYDt4T1cUTdK1PDd93/VVr8B8=')).toBe(true);
  });

  it('verifies what an independent implementation signs, for any fields and URL', () => {
    fc.assert(
      fc.property(fieldsArb, urlArb, (fields, url) => {
        expect(verifyTwilioSignature(TOKEN, url, fields, twilioReference(TOKEN, url, fields))).toBe(true);
      }),
    );
  });

  it('refuses the signature after any one field, value or the URL changed', () => {
    const change = fc.oneof(
      fc.record({ kind: fc.constant('value' as const), by: fc.string({ minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant('add' as const), name: nameArb, value: fc.string({ maxLength: 8 }) }),
      fc.record({ kind: fc.constant('remove' as const) }),
      fc.record({ kind: fc.constant('rename' as const), by: fc.string({ minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant('url' as const), by: fc.string({ minLength: 1, maxLength: 3 }).map(encodeURIComponent) }),
    );
    fc.assert(
      fc.property(fieldsArb, urlArb, change, fc.nat(), (fields, url, c, pick) => {
        const names = Object.keys(fields);
        const name = names[pick % Math.max(1, names.length)];
        const changed: Record<string, string> = { ...fields };
        let changedUrl = url;
        if (name === undefined || c.kind === 'url') changedUrl = url.replace('/status', `/status${'by' in c ? c.by : '%2F'}`);
        else if (c.kind === 'value') changed[name] = fields[name]! + c.by;
        else if (c.kind === 'remove') delete changed[name];
        else if (c.kind === 'rename') {
          delete changed[name];
          changed[name + c.by] = fields[name]!;
        } else changed[c.name] = c.value;
        // Twilio's scheme cannot tell {a: "bc"} from {ab: "c"}: only a change to the signed string counts.
        fc.pre(twilioSignedData(changedUrl, changed) !== twilioSignedData(url, fields));
        // A port added or removed is the same URL to Twilio.
        fc.pre(changedUrl === url || !twilioSignedUrls(url).includes(changedUrl));
        expect(verifyTwilioSignature(TOKEN, changedUrl, changed, twilioReference(TOKEN, url, fields))).toBe(false);
      }),
    );
  });

  it('accepts the URL signed with or without its port, as Twilio signs either', () => {
    const params = { MessageSid: 'SM0123456789abcdef0123456789abcdef', MessageStatus: 'delivered' };
    const signedWithPort = twilioReference(TOKEN, 'https://esh3ar.example.com:443/v1/providers/twilio/status', params);
    expect(verifyTwilioSignature(TOKEN, 'https://esh3ar.example.com/v1/providers/twilio/status', params, signedWithPort)).toBe(true);
    const signedWithout = twilioReference(TOKEN, 'http://esh3ar.example.com/v1/providers/twilio/status', params);
    expect(verifyTwilioSignature(TOKEN, 'http://esh3ar.example.com:80/v1/providers/twilio/status', params, signedWithout)).toBe(true);
    // Another port is another URL.
    expect(verifyTwilioSignature(TOKEN, 'https://esh3ar.example.com:8443/v1/providers/twilio/status', params, signedWithPort)).toBe(false);
  });

  it('refuses a missing or empty header, another token, and a repeated field read as one', () => {
    const params = { MessageSid: 'SM1', MessageStatus: 'delivered' };
    const url = 'https://esh3ar.example.com/v1/providers/twilio/status';
    const signature = twilioReference(TOKEN, url, params);
    expect(verifyTwilioSignature(TOKEN, url, params, undefined)).toBe(false);
    expect(verifyTwilioSignature(TOKEN, url, params, '')).toBe(false);
    expect(verifyTwilioSignature(`${TOKEN}x`, url, params, signature)).toBe(false);
    expect(verifyTwilioSignature(TOKEN, url, { ...params, MessageStatus: ['delivered', 'failed'] }, signature)).toBe(false);
  });
});
