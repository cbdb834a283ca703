/**
 * What each environment variable means, keyed by name, in the order docs/configuration.md
 * lists them. Which app reads a variable and its default are not written here: they come
 * from running the config parsers (scripts/config-reference.ts), and
 * scripts/config-reference.test.ts fails when an app reads a variable missing here or
 * this names one no app reads.
 */
export const DESCRIPTIONS: Readonly<Record<string, string>> = {
  DATABASE_URL: 'PostgreSQL (no user in the URL: the OS user, as libpq does)',
  REDIS_URL: 'Redis (`rediss://` for TLS); not used when `REDIS_CLUSTER_NODES` is set',
  REDIS_CLUSTER_NODES:
    'Redis Cluster (7.0 or later) instead of one Redis: seed nodes `host:port,host:port,…` (any of its nodes; the others are asked for); keys laid out for it (docs/design.md, "Redis Cluster")',
  REDIS_PREFIX: "prefix of every Redis key (BullMQ's included)",
  HOST: 'listening address (`0.0.0.0` in containers)',
  LOG_LEVEL: 'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`',
  PG_SLOW_STATEMENT_MS: 'log statements at least this slow (name and duration, never parameters); `0` logs every one',
  ADMIN_TOKEN:
    "bearer token of `/v1/admin/*` and the queue board (the api uses it); unset: no admin routes (404); at least 32 characters and not the examples' `change-me`, else the api does not start (`openssl rand -hex 32`)",
  REDIS_WAIT_REPLICAS:
    'replicas that must hold an accepted message before its `202` (WAIT, at most 1 s, else `503`), the send jobs a worker adds after storing before it acknowledges the batch (else the batch is retried), and a DLQ replay’s send jobs (api and `esh3ar dlq replay`) before its page leaves the DLQ (else the page stays there); on a Cluster at most as many as the master has (none once its replica was promoted); unset: `1` with `REDIS_CLUSTER_NODES`, else `0`',
  ALLOW_VOLATILE_BUFFER:
    '`on` (development only): start even on a Redis without `appendonly yes` or with a `maxmemory-policy` other than `noeviction`, logged as an error at every check',
  BUFFER_CAPACITY: "`buffer.capacity` of this process's version 0 of the runtime configuration: accepted messages not yet stored",
  BUFFER_HIGH_WATERMARK:
    "`buffer.highWatermark` of this process's version 0 of the runtime configuration: from this share of the capacity, `low` and `normal` get `503`",
  WORKER_BATCH_SIZE: "`worker.batchSize` of this process's version 0 of the runtime configuration: rows per COPY batch",
  WORKER_BATCH_TIMEOUT_MS:
    "`worker.batchTimeoutMs` of this process's version 0 of the runtime configuration: how long a worker waits to fill a batch",
  PUBLIC_BASE_URL:
    "the api's address as providers reach it (`https://api.example.com`, with any path prefix a proxy strips): Twilio signs the full URL it called, rebuilt by the api as this plus the path and query received; the worker gives Twilio this plus `/v1/providers/twilio/status` as each message's `StatusCallback` (unset: no status callbacks asked for)",
  TWILIO_AUTH_TOKEN:
    "the Twilio account's auth token: the api checks `X-Twilio-Signature` with it (needs `PUBLIC_BASE_URL`; unset: no Twilio receipt route), the worker authenticates its calls with it (required when a channel uses twilio)",
  DEVICE_TOKEN_SECRET:
    'HMAC secret of platform-wide device tokens (HS256): the gateway requires it unless `GATEWAY_TOKEN_ISSUERS` is set, the CLI needs it for `token mint`; at least 32 characters, not `change-me`',

  API_PORT: '`0` = any free port (logged)',
  API_LISTEN_BACKLOG: 'listen backlog (capped by `net.core.somaxconn`)',
  API_REUSE_PORT:
    '`on`: SO_REUSEPORT, so that several api processes on one host share `API_PORT` (one per core; the kernel spreads new connections); every process on the port must set it',
  API_HEADERS_TIMEOUT_MS:
    "a request's headers must be in by then, else 408 and closed (16 KiB of headers at 26 kbit/s); at most `API_REQUEST_TIMEOUT_MS`",
  API_REQUEST_TIMEOUT_MS: 'the whole request (headers and body) must be in by then, else 408 and closed (a 1 MiB batch at 0.84 Mbit/s)',
  API_KEEP_ALIVE_TIMEOUT_MS:
    "an idle keep-alive connection is closed after it: longer than nginx's upstream `keepalive_timeout 60s` and load balancers' 60 s, so the proxy closes first",
  API_CONNECTION_TIMEOUT_MS:
    'a connection silent this long while its request is open is closed (longer than any handler runs: statements stop at 5 s, Redis commands at 2 s)',
  QUEUE_BOARD_WRITE: "`on`: the queue board's actions (retry, clean, empty, obliterate, …) work; off, they answer 405",
  API_PG_POOL_MAX: 'PostgreSQL connections per api process',
  API_RATE_LIMIT: '`off` only to measure what the rate limiter costs (`bench/ingest/limiter-overhead.ts`); never in production',
  API_BACKPRESSURE: '`off` only to measure what the backpressure check costs (`bench/ingest/limiter-overhead.ts`); never in production',
  API_MAX_EVENT_LOOP_DELAY_MS: 'shed `/v1/messages*` (503) above this mean event-loop delay; `0` = off',
  API_MAX_HEAP_BYTES: 'shed `/v1/messages*` (503) above this heap used; `0` = off',
  API_MAX_RSS_BYTES: 'shed `/v1/messages*` (503) above this resident size; `0` = off',
  API_TRUST_PROXY:
    "proxies whose `X-Forwarded-For` names the client (addresses, CIDRs, `loopback`, `linklocal`, `uniquelocal`, comma-separated): failed authentication is limited per client address; compose sets `uniquelocal` (its nginx overwrites the header with the peer's address, so a client cannot forge one); in Kubernetes set it to the ingress controller's pod CIDR, and have the ingress overwrite the header too (otherwise every client counts as the ingress's address)",
  META_APP_SECRET: 'the Meta app secret: the key of `X-Hub-Signature-256` (unset: no Meta receipt routes)',
  META_WA_VERIFY_TOKEN: "the verify token typed into Meta's webhook settings (unset: the subscription handshake is refused)",

  OPS_PORT: '`/metrics` and `/health/*` of a worker',
  WORKER_CONCURRENCY:
    'ingest jobs held at once (each ~80 messages under load); on a Redis Cluster split evenly between the 8 ingest queues (rounded up)',
  WORKER_LOCK_DURATION_MS: "how soon a dead worker's jobs go to another",
  WORKER_RETRY_BASE_MS: 'storage retry backoff: the first delay',
  WORKER_RETRY_MAX_MS: 'storage retry backoff: the longest delay',
  WORKER_PG_POOL_MAX: 'PostgreSQL connections per worker',
  WORKER_EXPIRY_SWEEP_MS: 'how often messages past their TTL become `expired`',
  SCHEDULE_POLL_MS: 'how often an idle worker looks for scheduled messages now due (their `sendAt`, or the end of quiet hours)',
  SMS_PROVIDER:
    "the sms channel's providers in failover order, comma-separated: `sim` (provider-sim) or `twilio`; the next is tried while the breakers of those before are open",
  WHATSAPP_PROVIDER: "the whatsapp channel's providers in failover order, comma-separated: `sim`, `twilio` or `meta`",
  EMAIL_PROVIDER: "the email channel's providers in failover order, comma-separated: `sim` or `smtp`",
  PROVIDER_BASE_URL: 'where provider-sim is (`sim` providers)',
  PROVIDER_CONCURRENCY:
    'send jobs (batches of up to 500 messages) in hand per channel and worker; their calls share `PROVIDER_MAX_IN_FLIGHT`',
  PROVIDER_MAX_IN_FLIGHT: 'provider calls in flight per worker, all channels together (at 50 ms a call, 5,000 sends/s need 250)',
  PROVIDER_TIMEOUT_MS: 'per-call timeout of a provider request',
  SIM_RATE_PER_SECOND:
    "provider-sim's rate limit in messages per second, across all workers: a whole number or `unlimited` (none: no limit)",
  TWILIO_RATE_PER_SECOND:
    "the Twilio account's rate limit in messages per second, across all workers, or `unlimited`: the default is a short code's throughput (a long code sends 1/s, a toll-free number 3/s: set the account's own)",
  META_RATE_PER_SECOND:
    "the WhatsApp Cloud API's rate limit in messages per second, across all workers, or `unlimited`: the default is Meta's default throughput per business phone number",
  SMTP_RATE_PER_SECOND:
    "the SMTP relay's rate limit in messages per second, across all workers, or `unlimited` (none: no limit; relays refuse with a 4xx when over theirs)",
  TWILIO_ACCOUNT_SID: 'the Twilio Account SID (`AC` and 32 hex digits); required when a channel uses twilio',
  TWILIO_FROM: 'the sender of SMS through Twilio (a number or a Messaging Service); required when `SMS_PROVIDER` names twilio',
  TWILIO_WHATSAPP_FROM:
    'the sender of WhatsApp messages through Twilio (a number, `whatsapp:` added when left out, or a Messaging Service); required when `WHATSAPP_PROVIDER` names twilio',
  TWILIO_BASE_URL: "Twilio's API (a stand-in's address in tests)",
  META_WA_TOKEN: "the WhatsApp Cloud API's access token; required when `WHATSAPP_PROVIDER` names meta",
  META_WA_PHONE_NUMBER_ID: 'the phone number ID from WhatsApp Manager (digits); required when `WHATSAPP_PROVIDER` names meta',
  META_GRAPH_BASE_URL: "Meta's Graph API, with its version",
  SMTP_URL:
    'the relay and its credentials, `smtp://user:pass@host:port` (`smtps://` for TLS from the start; port 587, or 465 with smtps, when left out); required when `EMAIL_PROVIDER` names smtp',
  EMAIL_FROM: 'the sender, an address or `Name <address>` (its domain names the Message-IDs); required when `EMAIL_PROVIDER` names smtp',
  WEBHOOK_TIMEOUT_MS: 'status webhook request timeout',
  WEBHOOK_POLL_MS: 'how often a worker looks for status webhook events to POST',
  WEBHOOK_RETRY_BASE_MS: 'backoff of a failing webhook endpoint: the first delay (doubling, ±50% jitter)',
  WEBHOOK_RETRY_MAX_MS: 'backoff of a failing webhook endpoint: the longest delay',

  GATEWAY_PORT: 'WebSocket, `/health/*` and `/metrics`',
  GATEWAY_LISTEN_BACKLOG: 'listen backlog (capped by `net.core.somaxconn`)',
  GATEWAY_PG_POOL_MAX: 'PostgreSQL connections per gateway',
  GATEWAY_TOKEN_ISSUERS:
    'identity providers: JSON `[{"issuer", "jwksUrl", "audience", "tenant"}]`; their tokens get that tenant\'s messages only',
  GATEWAY_TOKEN_MAX_AGE_SECONDS: "providers' tokens older than this (by `iat`) are refused",
  GATEWAY_TOKEN_CLOCK_SKEW_SECONDS: "clock skew allowed on providers' tokens' `exp`, `nbf`, `iat`",
  GATEWAY_JWKS_COOLDOWN_MS: "an unknown `kid` fetches an issuer's JWKS again at most this often",
  GATEWAY_ACK_TIMEOUT_MS: 'initial `gateway.ackTimeoutMs`: re-push after it without an ack',
  GATEWAY_PING_INTERVAL_MS: 'WebSocket ping, spread over the first half of the interval; no pong by the next sweep drops the connection',
  GATEWAY_PRESENCE_TTL_MS: 'a gateway renews its liveness every third of it; the entries of one that stops stop counting after it',
  GATEWAY_MAX_FRAME_BYTES: 'larger device frames close the connection (1009)',
  GATEWAY_REPLAY_PAGE_SIZE: 'rows per replay query',
  GATEWAY_REPLAYS_AT_ONCE: 'replays reading PostgreSQL at once (half the pool); the others wait their turn',
  GATEWAY_ACK_FLUSH_MS: 'how often acks and `sent` marks are written',
  GATEWAY_STATUS_PENDING_MAX:
    'acks and `sent` marks held while PostgreSQL does not take them (~210 B each); at the cap the gateway stops reading devices and pushing until half are written',
  GATEWAY_MAX_CONNECTIONS:
    "further upgrades get `503` (40,000 × 13.3 KiB, the most a device took, + ~150 MiB base fits the pod's 1 GiB with room for slow readers)",
  GATEWAY_MAX_CONNECTIONS_PER_PHONE:
    "further upgrades for the phone get `429` until one closes; counted per issuer's tenant (the platform secret's apart), so one tenant's identity provider cannot take the places of another tenant's app on a phone",
  GATEWAY_MAX_BAD_FRAMES: 'bad frames answered per connection in 10 s; one more closes it (1008)',
  GATEWAY_SLOW_READER_BYTES: 'unread bytes past which a device is pushed nothing until its socket drains',
  GATEWAY_SLOW_READER_CLOSE_MS: 'a slow reader not drained by then is closed (1013); the default is `GATEWAY_PING_INTERVAL_MS`',

  PROVIDER_SIM_PORT: 'its HTTP port',
  PROVIDER_SIM_MAX_RECEIVED: 'messages `GET /received` keeps (the oldest are dropped beyond)',
  PROVIDER_SIM_MAX_RECEIVED_CHARS:
    'characters of content `GET /received` keeps (50 M ≈ 100 MB of strings: 100,000 messages of 500 characters)',
  PROVIDER_SIM_TWILIO_ACCOUNT_SID: 'the Account SID its Twilio API answers to (`AC` and 32 hex digits)',
  PROVIDER_SIM_TWILIO_AUTH_TOKEN: 'the auth token its Twilio API checks and signs its status callbacks with',
  PROVIDER_SIM_META_TOKEN: 'the access token its WhatsApp Cloud API checks',
  PROVIDER_SIM_META_APP_SECRET: 'the app secret it signs its Meta webhooks with',
  PROVIDER_SIM_META_WEBHOOK_URL: "the api's `/v1/providers/meta/webhook`, where it POSTs Meta status webhooks (unset: none)",
  PROVIDER_SIM_SMTP_PORT: 'its SMTP server (2525: the usual unprivileged stand-in for 25/587)',
  PROVIDER_SIM_SMTP_USER: 'the SMTP user it accepts',
  PROVIDER_SIM_SMTP_PASS: 'the SMTP password it accepts',
  PROVIDER_SIM_RECEIPT_DELAY_MS: 'how long after a send it reports the receipt (about as soon as Twilio reports a delivered SMS)',
  PROVIDER_SIM_RECEIPT_OUTCOMES:
    'the receipts it reports: `status=weight` pairs, comma-separated (`delivered=0.9,undelivered=0.05,failed=0.05`; weights are relative)',
};

/**
 * Defaults the parsers turn into something other than a plain value (a list of objects),
 * written as the variable would be set. scripts/config-reference.ts checks that each
 * parses to exactly what the variable left unset does.
 */
export const DECLARED_DEFAULTS: Readonly<Record<string, string>> = {
  PROVIDER_SIM_RECEIPT_OUTCOMES: 'delivered=1',
};
