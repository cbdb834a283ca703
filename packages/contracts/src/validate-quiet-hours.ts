import { Compile } from 'typebox/compile';
import type { ErrorDetail } from './errors.ts';
import { knownTimeZone, QuietHoursRequest, SAME_START_AND_END, unknownTimeZoneWords } from './quiet-hours.ts';
import { describeSchemaErrors } from './schema-words.ts';
import type { Validation } from './validate-message.ts';

const checker = Compile(QuietHoursRequest);

const fail = (details: ErrorDetail[]): Validation<QuietHoursRequest> => ({
  ok: false,
  message: details[0]?.message ?? 'the body must be quiet hours',
  details,
});

/**
 * A PUT of quiet hours: the shape first (HH:MM times, a bounded zone name, no other
 * field), then the zone against Intl, then a window that is neither empty nor the whole
 * day. The zone is answered by the name Intl gives it.
 */
export function validateQuietHours(input: unknown): Validation<QuietHoursRequest> {
  if (!checker.Check(input)) return fail(describeSchemaErrors(checker.Errors(input), { schema: QuietHoursRequest }));
  const timeZone = knownTimeZone(input.defaultTimeZone);
  if (timeZone === null) return fail([{ path: '/defaultTimeZone', message: unknownTimeZoneWords(input.defaultTimeZone) }]);
  if (input.start === input.end) return fail([{ path: '/end', message: SAME_START_AND_END }]);
  return { ok: true, value: { start: input.start, end: input.end, defaultTimeZone: timeZone } };
}
