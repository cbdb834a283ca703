import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { startStack, type Stack } from '@esh3ar/stack';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sendTo, waitStatuses } from './device.test-kit.ts';
import { DIST_DIR, ensureBuilt, PACKAGE_DIR } from './dist.test-kit.ts';

// The built package (dist/, as published) where apps run it: in Debian's Chromium, on a
// page served from http://127.0.0.1 (Chromium refuses a page from about:blank access to
// the local network), against a real gateway; and in plain Node, imported by its name.

/** What the test page keeps on `window`. */
interface PageState {
  ready?: boolean;
  handled: string[];
  replayed: number;
  errors: string[];
  start(url: string, token: string): void;
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>@esh3ar/device</title>
<script type="module">
  import { connectDevice } from './device/index.js';
  Object.assign(window, {
    handled: [],
    replayed: 0,
    errors: [],
    start(url, token) {
      connectDevice({
        url,
        token,
        onMessage: async (message) => void window.handled.push(message.id),
        onReplayed: () => void window.replayed++,
        onError: (error) => void window.errors.push(error.kind),
      });
    },
    ready: true,
  });
</script>`;

let stack: Stack;
let apiKey: string;
let server: Server;
let pageUrl: string;
let browser: Browser;

/** The page, and dist/'s files under /device/. */
async function serve(): Promise<Server> {
  const s = createServer((request, response) => {
    const path = request.url ?? '/';
    if (path === '/') return void response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    const file = /^\/device\/([\w-]+\.js)$/.exec(path)?.[1];
    if (file === undefined) return void response.writeHead(404).end();
    readFile(join(DIST_DIR, file)).then(
      (body) => response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

beforeAll(async () => {
  ensureBuilt();
  stack = await startStack('device-browser', { workers: 1, gateways: 1, env: { WORKER_BATCH_TIMEOUT_MS: '5' } });
  ({ apiKey } = await stack.tenant('enterprise', { rpm: 1_000_000, burst: 1_000_000 }));
  server = await serve();
  pageUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // Root in a container: no sandbox; the rest keeps Chromium off the (closed) network.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  server?.close();
  await stack?.close();
});

it('receives the backlog and live messages in Chromium, once each, and acknowledges them', async () => {
  const phone = '+966551234567';
  const backlog = await sendTo(stack.api!.url, apiKey, phone, 'waiting for the phone');
  await waitStatuses(stack.pool, [backlog], 'pending');
  const page = await browser.newPage();
  await page.goto(pageUrl);
  await page.waitForFunction(() => (window as unknown as PageState).ready === true);
  const url = `ws://127.0.0.1:${stack.gateways[0]!.port}/v1/stream`;
  await page.evaluate(([u, token]) => (window as unknown as PageState).start(u!, token!), [url, stack.deviceToken(phone)]);
  await page.waitForFunction(() => (window as unknown as PageState).replayed === 1);
  const live = await sendTo(stack.api!.url, apiKey, phone, 'live');
  await waitStatuses(stack.pool, [backlog, live], 'delivered');
  const state = await page.evaluate(() => {
    const { handled, replayed, errors } = window as unknown as PageState;
    return { handled, replayed, errors };
  });
  expect(state).toEqual({ handled: [backlog, live], replayed: 1, errors: [] });
  await page.close();
});

it('imports in plain Node by its name, from dist/', () => {
  const script = `const m = await import('@esh3ar/device'); console.log(typeof m.connectDevice, import.meta.resolve('@esh3ar/device'));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: PACKAGE_DIR, encoding: 'utf8' }).trim();
  expect(out).toBe(`function file://${join(DIST_DIR, 'index.js')}`);
});
