/**
 * What a command prints: `data` as one line of JSON for scripts and pipes (`… | jq`), or
 * `text` for a person at a terminal. JSON when asked with --json or when stdout is not a
 * terminal, so that scripts written against the JSON keep working unchanged.
 */
export interface Printed {
  data: unknown;
  text: () => string;
  /**
   * 'text': the text even when piped. For a single value meant for `$(…)`, such as a
   * device token (kubectl create token prints its token alone too); --json still gives JSON.
   */
  piped?: 'json' | 'text';
}

export function render(printed: Printed, options: { json: boolean; stdoutIsTTY: boolean }): string {
  const json = options.json || (!options.stdoutIsTTY && printed.piped !== 'text');
  return json ? JSON.stringify(printed.data) : printed.text();
}
