#!/usr/bin/env bash
# Puts the command-line tools the tests shell out to on PATH: promtool (checks the
# /metrics text, the alerting rules and their unit tests), and Debian's Chromium at
# /usr/bin/chromium (packages/device's browser test drives it with playwright-core, which
# cannot download a browser of its own here).
# promtool comes from Debian's `prometheus` package. Installing that package would also
# start a Prometheus server (its postinst runs invoke-rc.d), so only the package is
# fetched with apt-get and its statically linked promtool copied to /usr/local/bin.
# Idempotent and quiet; needs root only when one of them is missing. Used by .ci/run and by
# vitest's global setup (scripts/test-services.ts).
set -euo pipefail

log() { echo "tools: $*" >&2; }

need_promtool=1
command -v promtool >/dev/null 2>&1 && need_promtool=0
need_chromium=1
[ -x /usr/bin/chromium ] && need_chromium=0
if [ "$need_promtool" = 0 ] && [ "$need_chromium" = 0 ]; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
  log "promtool or chromium is missing and installing them needs root (apt-get); install Debian's prometheus and chromium packages"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ "$need_chromium" = 1 ]; then
  if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
  log "installed $(/usr/bin/chromium --version 2>/dev/null) from Debian's chromium package"
fi
if [ "$need_promtool" = 0 ]; then exit 0; fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# An empty package list (a fresh machine) knows no `prometheus`: read it first then.
if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
  apt-get update -qq >/dev/null
  (cd "$tmp" && apt-get download -qq prometheus >/dev/null)
fi
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
install -m 0755 "$tmp/root/usr/bin/promtool" /usr/local/bin/promtool
log "installed $(promtool --version 2>&1 | head -1) from Debian's prometheus package"
