import type { FastifyInstance } from 'fastify';

// Same as the api's API_LISTEN_BACKLOG default: Node's 511 drops SYNs of a 10k burst.
const BACKLOG = 16_384;

/**
 * Listens as the ceiling and the floor do (PORT, 0 by default, on 127.0.0.1), prints
 * `{"msg":"ceiling listening","port":N}` once ready (startCeiling waits for it), and on
 * SIGTERM or SIGINT closes the app, then `after`, and exits.
 */
export async function serveBare(app: FastifyInstance, after: () => Promise<unknown> = async () => undefined): Promise<void> {
  await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0), backlog: BACKLOG });
  const address = app.server.address();
  process.stdout.write(
    `${JSON.stringify({ msg: 'ceiling listening', port: typeof address === 'object' && address ? address.port : null })}\n`,
  );
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      app
        .close()
        .then(after)
        .then(
          () => process.exit(0),
          () => process.exit(1),
        );
    });
  }
}
