import { Type, type Static } from 'typebox';

export const BufferCheck = Type.Object({
  depth: Type.Integer(),
  capacity: Type.Integer(),
  utilization: Type.Number(),
});
export type BufferCheck = Static<typeof BufferCheck>;

export const ReadyResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('unavailable')]),
  checks: Type.Object({
    redis: Type.String(),
    postgres: Type.String(),
    buffer: BufferCheck,
    breakers: Type.Record(Type.String(), Type.String()),
  }),
});
export type ReadyResponse = Static<typeof ReadyResponse>;
