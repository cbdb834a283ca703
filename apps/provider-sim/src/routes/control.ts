import type { FastifyInstance } from 'fastify';
import { simError } from '../errors.ts';
import { applyControl, checkControlChange, defaultControl, type ControlState } from '../faults.ts';

export interface ControlDeps {
  control: { state: ControlState };
}

/** Fault injection, per channel: every answer is the whole state. */
export function controlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  app.get('/control', async () => deps.control.state);

  app.put('/control', async (request, reply) => {
    const check = checkControlChange(request.body);
    if (!check.ok) return reply.code(400).send(simError('INVALID_REQUEST', check.message));
    deps.control.state = applyControl(deps.control.state, check.value);
    request.log.info({ change: check.value }, 'fault injection changed');
    return deps.control.state;
  });

  app.delete('/control', async (request) => {
    deps.control.state = defaultControl();
    request.log.info('fault injection reset');
    return deps.control.state;
  });
}
