import { send, startApp, startStack, TestDevice, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { afterAll, describe, expect, it } from 'vitest';

// A gateway killed with devices connected: what the devices acknowledged must end
// `delivered`, and no acknowledged message may go out again by SMS.
let stack: Stack | undefined;
let sim: AppProcess | undefined;
const devices: PhoneDevice[] = [];
afterAll(async () => {
  for (const d of devices) d.stopped = true;
  await Promise.allSettled(devices.map((d) => d.current?.close() ?? Promise.resolve()));
  await stack?.close();
  await sim?.stop('SIGKILL');
});

const PHONES = 40;
const FALLBACK_AFTER_SECONDS = 8;
const wsUrl = (g: AppProcess) => `ws://127.0.0.1:${g.port}/v1/stream`;
const alive = (p: AppProcess) => p.child.exitCode === null && p.child.signalCode === null;

/** An app on one phone: acks every message it gets (duplicates too), reconnects to a live gateway when its socket closes. */
class PhoneDevice {
  current: TestDevice | undefined;
  readonly acked = new Set<string>();
  stopped = false;
  reconnects = 0;
  readonly phone: string;
  readonly token: string;
  readonly gateways: () => AppProcess[];
  constructor(phone: string, token: string, gateways: () => AppProcess[]) {
    this.phone = phone;
    this.token = token;
    this.gateways = gateways;
  }

  async connect(): Promise<void> {
    const live = this.gateways().filter(alive);
    const device = await TestDevice.connect(wsUrl(live[Math.floor(Math.random() * live.length)]!), this.token);
    this.current = device;
    let seen = 0;
    device.socket.on('message', () => {
      const frames = device.messages().slice(seen);
      seen += frames.length;
      for (const f of frames) {
        device.ack(f.id!);
        this.acked.add(f.id!);
      }
    });
    void device.closed().then(async () => {
      if (this.stopped) return;
      this.reconnects++;
      await this.connect();
    });
  }
}

describe('a gateway killed (SIGKILL) with devices connected', () => {
  it('every accepted message ends delivered after the devices reconnect elsewhere, and none acknowledged goes out by SMS', async () => {
    sim = await startApp('provider-sim', { PROVIDER_SIM_PORT: '0' });
    stack = await startStack('gateway-crash', {
      workers: 1,
      gateways: 2,
      env: {
        PROVIDER_BASE_URL: sim.url,
        WORKER_BATCH_TIMEOUT_MS: '5',
        GATEWAY_ACK_TIMEOUT_MS: '2000',
        GATEWAY_PRESENCE_TTL_MS: '3000',
        GATEWAY_PING_INTERVAL_MS: '1000',
      },
    });
    const s = stack;
    const { apiKey } = await s.tenant('enterprise', { rpm: 10_000_000, burst: 10_000_000 });
    for (let i = 0; i < PHONES; i++) {
      const phone = `+9665${String(10_000_000 + i)}`;
      devices.push(new PhoneDevice(phone, s.deviceToken(phone), () => s.gateways));
    }
    await Promise.all(devices.map((d) => d.connect()));

    const accepted: string[] = [];
    let sending = true;
    const sender = async (k: number) => {
      for (let i = 0; sending; i++) {
        const device = devices[(k + i) % PHONES]!;
        const r = await send(s.api!.url, apiKey, 'POST', '/v1/messages', {
          recipient: device.phone,
          content: `gateway crash ${k}/${i}`,
          fallback: 'sms',
          fallbackAfterSeconds: FALLBACK_AFTER_SECONDS,
        });
        expect(r.status).toBe(202);
        accepted.push(r.body.id as string);
      }
    };
    const senders = Array.from({ length: 20 }, (_, k) => sender(k));
    const ackedSoFar = () => devices.reduce((n, d) => n + d.acked.size, 0);
    await waitFor(
      async () => ackedSoFar(),
      (n) => n >= 500,
      60_000,
    );

    const [victim] = s.gateways.splice(0, 1);
    await victim!.stop('SIGKILL');
    await waitFor(
      async () => devices.filter((d) => d.reconnects > 0).length,
      (n) => n > 0,
      30_000,
    );
    await waitFor(
      async () => ackedSoFar(),
      (n) => n >= 1000,
      60_000,
    );
    sending = false;
    await Promise.all(senders);

    // Every accepted message reaches a device and is acknowledged: delivered.
    const statuses = async () => {
      const { rows } = await s.pool.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM messages WHERE id = ANY($1) GROUP BY status',
        [accepted],
      );
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    };
    const final = await waitFor(statuses, (by) => by.delivered === accepted.length, 90_000, 250);
    expect(final).toEqual({ delivered: accepted.length });
    // Every fallback timer has fired (or been skipped) by now: the SMS queue holds no delayed job.
    await waitFor(
      async () => (await send(s.workers[0]!.url, null, 'GET', '/metrics')).body as string,
      (text) => !/esh3ar_queue_jobs\{[^}]*queue="send-sms"[^}]*state="delayed"[^}]*\} [1-9]/.test(text),
      (FALLBACK_AFTER_SECONDS + 30) * 1000,
      250,
    );
    const smsSent = await Promise.all(
      devices.map(
        async (d) =>
          (await send(sim!.url, null, 'GET', `/received?recipient=${encodeURIComponent(d.phone)}&channel=sms`)).body.items.length as number,
      ),
    );
    expect(smsSent.reduce((a, b) => a + b, 0)).toBe(0);
    for (const p of [s.api!, ...s.workers, ...s.gateways]) expect(alive(p), `${p.name} alive`).toBe(true);
    console.info(
      `[crash] gateway SIGKILL: ${JSON.stringify({ accepted: accepted.length, reconnected: devices.filter((d) => d.reconnects > 0).length, delivered: final.delivered })}`,
    );
  });
});
