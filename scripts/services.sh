#!/usr/bin/env bash
# Makes PostgreSQL and Redis reachable at DATABASE_URL / REDIS_URL.
# 1. Already answering: use them as they are.
# 2. A Docker engine runs: `docker compose up -d postgres redis` from infra/.
# 3. Otherwise local binaries: Debian's PostgreSQL cluster (pg_ctlcluster) and
#    redis-server, installed with apt-get when missing (needs root).
# Idempotent; used by `pnpm start`, `pnpm bench` and .ci/run.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
DATABASE_URL="${DATABASE_URL:-postgres://127.0.0.1:5432/esh3ar}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

# postgres://[user[:pw]@]host[:port]/db
pg_rest="${DATABASE_URL#*://}"; pg_rest="${pg_rest#*@}"
pg_hostport="${pg_rest%%/*}"; pg_db="${pg_rest#*/}"; pg_db="${pg_db%%\?*}"
pg_host="${pg_hostport%%:*}"; pg_port="${pg_hostport##*:}"; [ "$pg_port" = "$pg_hostport" ] && pg_port=5432
redis_rest="${REDIS_URL#*://}"; redis_rest="${redis_rest#*@}"; redis_rest="${redis_rest%%/*}"
redis_host="${redis_rest%%:*}"; redis_port="${redis_rest##*:}"; [ "$redis_port" = "$redis_rest" ] && redis_port=6379

log() { echo "services: $*" >&2; }
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_tcp() {
  for _ in $(seq 1 100); do tcp_open "$1" "$2" && return 0; sleep 0.2; done
  log "$3 did not start listening on $1:$2"; return 1
}

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then log "need root to install $*"; exit 1; fi
  if [ "$apt_updated" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; apt_updated=1; fi
  log "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

docker_up() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

pg_ready() { tcp_open "$pg_host" "$pg_port"; }

start_local_postgres() {
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then apt_install postgresql; fi
  local version cluster_line
  cluster_line="$(pg_lsclusters --no-header 2>/dev/null | awk -v p="$pg_port" '$3 == p {print; exit}')"
  if [ -z "$cluster_line" ]; then
    version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
    log "creating PostgreSQL $version cluster on port $pg_port"
    pg_createcluster "$version" "esh3ar$pg_port" -p "$pg_port" >/dev/null
    cluster_line="$(pg_lsclusters --no-header | awk -v p="$pg_port" '$3 == p {print; exit}')"
  fi
  read -r version cluster _ <<<"$cluster_line"
  local conf="/etc/postgresql/$version/$cluster"
  # Local development cluster: loopback connections are trusted, so the contract's
  # default DATABASE_URL (no password) works. Production uses its own credentials.
  if ! grep -q '^# esh3ar: trust loopback' "$conf/pg_hba.conf"; then
    { echo '# esh3ar: trust loopback'; echo 'host all all 127.0.0.1/32 trust'; echo 'host all all ::1/128 trust'; cat "$conf/pg_hba.conf"; } >"$conf/pg_hba.conf.new"
    mv "$conf/pg_hba.conf.new" "$conf/pg_hba.conf"
  fi
  # Room for several workers, api processes and one database per test file.
  cat >"$conf/conf.d/esh3ar.conf" <<CONF
max_connections = 400
shared_buffers = 512MB
synchronous_commit = on
CONF
  log "starting PostgreSQL $version/$cluster"
  pg_ctlcluster "$version" "$cluster" start || pg_ctlcluster "$version" "$cluster" reload
  wait_tcp "$pg_host" "$pg_port" PostgreSQL
}

ensure_pg_role_and_db() {
  local user="${PGUSER:-$(id -un)}"
  local psql_admin=(runuser -u postgres -- psql -p "$pg_port" -h "$pg_host" -v ON_ERROR_STOP=1 -qAt)
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
    if [ "$("${psql_admin[@]}" -c "select 1 from pg_roles where rolname = '$user'" postgres)" != 1 ]; then
      "${psql_admin[@]}" -c "create role \"$user\" superuser login" postgres
    fi
    if [ "$("${psql_admin[@]}" -c "select 1 from pg_database where datname = '$pg_db'" postgres)" != 1 ]; then
      "${psql_admin[@]}" -c "create database \"$pg_db\" owner \"$user\"" postgres
    fi
  fi
}

redis_ready() { tcp_open "$redis_host" "$redis_port"; }

start_local_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then apt_install redis-server redis-tools; fi
  local dir="$root/.data/redis-$redis_port"
  mkdir -p "$dir"
  log "starting redis-server on $redis_host:$redis_port (AOF, fsync always, noeviction)"
  # appendfsync always: a 202 promises the message survives a Redis crash. The api
  # coalesces a tick's messages into one job, so one fsync covers many messages.
  redis-server --bind "$redis_host" --port "$redis_port" --dir "$dir" --daemonize yes \
    --appendonly yes --appendfsync always --maxmemory-policy noeviction \
    --save '' --logfile "$dir/redis.log" --tcp-backlog 4096
  wait_tcp "$redis_host" "$redis_port" Redis
}

# A previous run's Docker address, now stale: written again below when compose is used.
rm -f "$root/.data/services.env"

if pg_ready && redis_ready; then
  ensure_pg_role_and_db 2>/dev/null || true
  log "PostgreSQL at $pg_host:$pg_port and Redis at $redis_host:$redis_port already answer"
  exit 0
fi

if docker_up && [ -f "$root/infra/docker-compose.yml" ]; then
  log "starting postgres and redis with docker compose"
  # Compose resolves every variable of the file, the gateway's required secret too.
  DEVICE_TOKEN_SECRET="${DEVICE_TOKEN_SECRET:-unused-by-postgres-and-redis}" \
    docker compose -f "$root/infra/docker-compose.yml" up -d --wait postgres redis
  # Compose's PostgreSQL has a user and password (infra/docker-compose.yml): `./dev`
  # reads this file, so that the default DATABASE_URL (no user) is not used against it.
  mkdir -p "$root/.data"
  if [ "$DATABASE_URL" = postgres://127.0.0.1:5432/esh3ar ]; then
    echo "DATABASE_URL=postgres://esh3ar:esh3ar@127.0.0.1:5432/esh3ar" >"$root/.data/services.env"
    log "compose's PostgreSQL: DATABASE_URL=postgres://esh3ar:esh3ar@127.0.0.1:5432/esh3ar (in .data/services.env)"
  fi
  exit 0
fi

pg_ready || start_local_postgres
ensure_pg_role_and_db
redis_ready || start_local_redis
log "PostgreSQL at $pg_host:$pg_port, Redis at $redis_host:$redis_port"
