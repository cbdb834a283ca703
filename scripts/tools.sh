#!/usr/bin/env bash
# Puts the command-line tools the tests shell out to on PATH: promtool (checks the
# /metrics text, the alerting rules and their unit tests).
# promtool comes from Debian's `prometheus` package. Installing that package would also
# start a Prometheus server (its postinst runs invoke-rc.d), so only the package is
# fetched with apt-get and its statically linked promtool copied to /usr/local/bin.
# Idempotent and quiet; needs root only when promtool is missing. Used by .ci/run and by
# vitest's global setup (scripts/test-services.ts).
set -euo pipefail

log() { echo "tools: $*" >&2; }

if command -v promtool >/dev/null 2>&1; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
  log "promtool is missing and installing it needs root (apt-get); install Debian's prometheus package"
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export DEBIAN_FRONTEND=noninteractive
# An empty package list (a fresh machine) knows no `prometheus`: read it first then.
if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
  apt-get update -qq >/dev/null
  (cd "$tmp" && apt-get download -qq prometheus >/dev/null)
fi
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
install -m 0755 "$tmp/root/usr/bin/promtool" /usr/local/bin/promtool
log "installed $(promtool --version 2>&1 | head -1) from Debian's prometheus package"
