import { describe, expect, it } from 'vitest';
import { render } from './output.ts';

describe('render', () => {
  const printed = { data: { a: 1 }, text: () => 'A is 1' };

  it.each([
    [{ json: false, stdoutIsTTY: true }, 'A is 1'],
    [{ json: true, stdoutIsTTY: true }, '{"a":1}'],
    [{ json: false, stdoutIsTTY: false }, '{"a":1}'],
    [{ json: true, stdoutIsTTY: false }, '{"a":1}'],
  ])('%j → %s', (options, expected) => {
    expect(render(printed, options)).toBe(expected);
  });

  it("piped: 'text' keeps the text when piped, and --json still gives JSON", () => {
    expect(render({ ...printed, piped: 'text' }, { json: false, stdoutIsTTY: false })).toBe('A is 1');
    expect(render({ ...printed, piped: 'text' }, { json: true, stdoutIsTTY: false })).toBe('{"a":1}');
  });
});
