import { Compile } from 'typebox/compile';
import { RuntimeConfig } from './schema.ts';

export interface RuntimeConfigProblem {
  /** JSON pointer into the document ("/buffer/capacity"). */
  path: string;
  message: string;
}

export type RuntimeConfigCheck = { ok: true; value: RuntimeConfig } | { ok: false; problems: RuntimeConfigProblem[] };

const checker = Compile(RuntimeConfig);

const dotted = (pointer: string): string => pointer.split('/').filter(Boolean).join('.');
const child = (pointer: string, key: string) => ({
  path: `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`,
  name: [dotted(pointer), key].filter(Boolean).join('.'),
});

/** One problem per JSON path, worded for an operator ("unknown key buffer.capacty"). */
function problemsOf(document: unknown): RuntimeConfigProblem[] {
  const problems: RuntimeConfigProblem[] = [];
  for (const error of checker.Errors(document)) {
    const extra = (error.params as { additionalProperties?: string[] } | undefined)?.additionalProperties;
    const missing = (error.params as { requiredProperties?: string[] } | undefined)?.requiredProperties;
    // TypeBox reports an unknown key twice: as "schema is false" at the key, and here with its name.
    if (error.keyword === 'boolean') continue;
    if (extra?.length) {
      for (const { path, name } of extra.map((key) => child(error.instancePath, key)))
        problems.push({ path, message: `unknown key ${name}` });
    } else if (missing?.length) {
      for (const { path, name } of missing.map((key) => child(error.instancePath, key)))
        problems.push({ path, message: `${name} is required` });
    } else {
      problems.push({ path: error.instancePath || '/', message: `${dotted(error.instancePath) || 'the document'} ${error.message}` });
    }
  }
  return problems.filter((p, i) => problems.findIndex((o) => o.path === p.path) === i);
}

/** The whole document against the schema: every key known, every value in range. */
export function checkRuntimeConfig(document: unknown): RuntimeConfigCheck {
  if (checker.Check(document)) return { ok: true, value: document };
  const problems = problemsOf(document);
  return {
    ok: false,
    problems: problems.length > 0 ? problems : [{ path: '/', message: 'the document does not match the runtime configuration schema' }],
  };
}
