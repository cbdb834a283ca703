import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AckFrame, checkAckFrame, checkServerFrame, FRAME_ERROR_CODES, GATEWAY_CLOSE_CODES, ServerFrame } from '@esh3ar/contracts';
import { describe, expect, it } from 'vitest';

// docs/gateway-protocol.md is written by hand and checked here against the frames'
// schemas; docs/gateway-protocol.asyncapi.json is generated from them.
const ROOT = join(import.meta.dirname, '../../..');
const doc = readFileSync(join(ROOT, 'docs/gateway-protocol.md'), 'utf8');

const serverTypes = ServerFrame.anyOf.map((s) => s.properties.type.const);
const deviceTypes: string[] = [...new Set(AckFrame.anyOf.map((s) => s.properties.type.const))];
const examples = [...doc.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => JSON.parse(m[1]!) as { type: string });
/** The cells of the body rows of the table under `heading` (up to the next heading). */
function rows(heading: string): string[][] {
  const start = doc.indexOf(`\n${heading}\n`);
  const section = doc.slice(start, doc.indexOf('\n#', start + heading.length + 2));
  const table = [...section.matchAll(/^\| (.+) \|$/gm)].map((m) => m[1]!.split(' | '));
  return table.slice(2); // the header and its separator
}

describe('docs/gateway-protocol.md', () => {
  it('gives every frame type of the schemas a section, in the frames table, with an example', () => {
    expect(serverTypes.length).toBeGreaterThan(1);
    for (const type of [...serverTypes, ...deviceTypes]) {
      expect(doc, type).toContain(`\n### \`${type}\`\n`);
      expect(
        rows('## Frames').some((cells) => cells[1] === `\`${type}\``),
        type,
      ).toBe(true);
      expect(
        examples.some((e) => e.type === type),
        type,
      ).toBe(true);
    }
  });

  it('has examples that are all frames the schemas accept, in their direction', () => {
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const valid = deviceTypes.includes(example.type) ? checkAckFrame.Check(example) : checkServerFrame.Check(example);
      expect(valid, JSON.stringify(example)).toBe(true);
    }
  });

  it('lists every error code and every close code, with what the device does', () => {
    expect(rows('### `error`').map((cells) => cells[0])).toEqual(FRAME_ERROR_CODES.map((code) => `\`${code}\``));
    const closes = rows('## Close codes').map(([code, , action]) => [Number(code), action!.split(/[,:]/)[0]]);
    expect(closes).toEqual(
      Object.entries(GATEWAY_CLOSE_CODES).map(([code, { device }]) => [
        Number(code),
        device === 'stop' ? 'stop and report' : device === 'back off' ? 'back off' : 'reconnect',
      ]),
    );
  });
});

it('docs/gateway-protocol.asyncapi.json is what scripts/gateway-protocol.ts renders', () => {
  const rendered = execFileSync(process.execPath, ['scripts/gateway-protocol.ts'], { cwd: ROOT, encoding: 'utf8' });
  expect(JSON.parse(rendered).channels.stream.messages).toHaveProperty('replayed');
  expect(readFileSync(join(ROOT, 'docs/gateway-protocol.asyncapi.json'), 'utf8'), 'run: node scripts/gateway-protocol.ts --write').toBe(
    rendered,
  );
});
