import type * as contracts from '@esh3ar/contracts';
import { describe, expectTypeOf, it } from 'vitest';
import type * as client from './index.js';

// The assertions are made by the compiler (`tsc -b`, in `pnpm run check`): a field the
// api adds, drops or retypes in its schemas fails the check until types.ts follows.
describe('the client’s hand-written types are the api’s schemas', () => {
  it('requests', () => {
    expectTypeOf<client.SendMessageRequest>().toEqualTypeOf<contracts.SendMessageRequest>();
    expectTypeOf<Omit<client.ListQuery, 'status'>>().toEqualTypeOf<Omit<contracts.ListQuery, 'status'>>();
    // contracts' ListQuery builds its status union from the runtime STATUSES array, which
    // TypeBox's Static types as `undefined`: the client's is held to MessageStatus instead.
    expectTypeOf<client.ListQuery['status']>().toEqualTypeOf<contracts.MessageStatus | undefined>();
    expectTypeOf<client.Priority>().toEqualTypeOf<contracts.Priority>();
    expectTypeOf<client.Channel>().toEqualTypeOf<contracts.Channel>();
    expectTypeOf<client.MessageStatus>().toEqualTypeOf<contracts.MessageStatus>();
    expectTypeOf<client.CancelFilter>().toEqualTypeOf<contracts.BulkCancelRequest>();
  });

  it('answers', () => {
    expectTypeOf<client.AcceptedResponse>().toEqualTypeOf<contracts.AcceptedResponse>();
    expectTypeOf<client.BatchResult>().toEqualTypeOf<contracts.BatchResult>();
    expectTypeOf<client.BatchResponse>().toEqualTypeOf<contracts.BatchResponse>();
    expectTypeOf<client.MessageEvent>().toEqualTypeOf<contracts.MessageEvent>();
    expectTypeOf<client.MessageSummary>().toEqualTypeOf<contracts.MessageSummary>();
    expectTypeOf<client.MessageView>().toEqualTypeOf<contracts.MessageView>();
    expectTypeOf<client.MessageList>().toEqualTypeOf<contracts.MessageList>();
    expectTypeOf<client.CancelManyResponse>().toEqualTypeOf<contracts.BulkCancelResponse>();
  });

  it('errors', () => {
    expectTypeOf<client.ApiErrorCode>().toEqualTypeOf<contracts.ErrorCode>();
    expectTypeOf<client.ErrorDetail>().toEqualTypeOf<contracts.ErrorDetail>();
  });
});
