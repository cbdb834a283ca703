# shellcheck shell=bash
# Source me: `. scripts/env.sh`. Puts the project's Node (24 LTS) and pinned pnpm first
# on PATH. Where the machine's own Node is older (Debian's Node 20, say), both are
# installed once from the npm registry into .tools/ (git-ignored); the system Node is
# never touched. A no-op where the right versions are already on PATH.
ESH3AR_NODE_VERSION=24.21.0
ESH3AR_PNPM_VERSION=10.34.9

esh3ar_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
esh3ar_tools="$esh3ar_root/.tools"

esh3ar_node_major() { command -v node >/dev/null 2>&1 && node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

esh3ar_install_node() {
  # The registry's node-linux-* packages are glibc builds: elsewhere, refuse rather than
  # fetch a binary that cannot run.
  if [ "$(uname -s)" != Linux ]; then
    echo "env.sh: this script installs Node only on Linux; install Node 24 yourself (https://nodejs.org) and run again" >&2
    return 1
  fi
  # Refuse only where musl is positively found: no pipeline here (under a caller's
  # `set -o pipefail`, grep -q closing the pipe early fails it with SIGPIPE).
  local libc
  libc="$(getconf GNU_LIBC_VERSION 2>/dev/null || true)"
  [ -n "$libc" ] || libc="$(ldd --version 2>&1 || true)"
  if [ "${libc#*musl}" != "$libc" ]; then
    echo "env.sh: Node's Linux builds need glibc (Debian, Ubuntu, Fedora…); on musl (Alpine) install Node 24 with the system's packages" >&2
    return 1
  fi
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "env.sh: unsupported architecture $(uname -m)" >&2; return 1 ;;
  esac
  local tmp
  tmp="$(mktemp -d)"
  # node-linux-<arch> ships the official binary inside the registry tarball.
  (cd "$tmp" && npm pack "node-linux-$arch@$ESH3AR_NODE_VERSION" --loglevel=error >/dev/null) || { rm -rf "$tmp"; return 1; }
  rm -rf "$esh3ar_tools/node" && mkdir -p "$esh3ar_tools/node"
  tar xzf "$tmp"/node-linux-*.tgz -C "$esh3ar_tools/node" --strip-components=1
  rm -rf "$tmp"
}

esh3ar_install_pnpm() {
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack "pnpm@$ESH3AR_PNPM_VERSION" --loglevel=error >/dev/null) || { rm -rf "$tmp"; return 1; }
  rm -rf "$esh3ar_tools/pnpm" && mkdir -p "$esh3ar_tools/pnpm" "$esh3ar_tools/bin"
  tar xzf "$tmp"/pnpm-*.tgz -C "$esh3ar_tools/pnpm" --strip-components=1
  rm -rf "$tmp"
  printf '#!/bin/sh\nexec node "%s/pnpm/bin/pnpm.cjs" "$@"\n' "$esh3ar_tools" >"$esh3ar_tools/bin/pnpm"
  chmod +x "$esh3ar_tools/bin/pnpm"
}

# Both are fetched with the machine's own npm, before PATH changes: that npm finds its
# configuration (registry, CA file) next to the Node it was installed with.
esh3ar_need_node=0
if [ "$(esh3ar_node_major)" -lt 24 ]; then
  esh3ar_need_node=1
  if [ ! -x "$esh3ar_tools/node/bin/node" ] || [ "$("$esh3ar_tools/node/bin/node" -v)" != "v$ESH3AR_NODE_VERSION" ]; then
    echo "env.sh: installing Node $ESH3AR_NODE_VERSION into .tools/node" >&2
    if ! esh3ar_install_node; then
      echo "env.sh: could not install Node $ESH3AR_NODE_VERSION; Esh3ar needs Node 24" >&2
      return 1 2>/dev/null || exit 1
    fi
  fi
fi
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm -v 2>/dev/null)" != "$ESH3AR_PNPM_VERSION" ]; then
  if [ ! -f "$esh3ar_tools/pnpm/bin/pnpm.cjs" ] || [ "$(node -p "require('$esh3ar_tools/pnpm/package.json').version" 2>/dev/null)" != "$ESH3AR_PNPM_VERSION" ]; then
    echo "env.sh: installing pnpm $ESH3AR_PNPM_VERSION into .tools/pnpm" >&2
    esh3ar_install_pnpm || echo "env.sh: could not install pnpm $ESH3AR_PNPM_VERSION" >&2
  fi
  export PATH="$esh3ar_tools/bin:$PATH"
fi
if [ "$esh3ar_need_node" = 1 ]; then
  export PATH="$esh3ar_tools/node/bin:$PATH"
  # Native addons must build against the headers of the Node that runs them.
  export npm_config_nodedir="$esh3ar_tools/node"
fi
unset esh3ar_need_node
unset -f esh3ar_node_major esh3ar_install_node esh3ar_install_pnpm
