import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** What the kernel and the shell allowed this run: the burst figures depend on them. */
export interface SystemLimits {
  somaxconn: { before: number | null; after: number | null };
  tcpMaxSynBacklog: { before: number | null; after: number | null };
  sysctlMessage: string;
  openFiles: number;
  openFilesMessage: string;
}

const WANTED_BACKLOG = 65_535;
const WANTED_OPEN_FILES = 100_000;
// Below this a 10k burst (10k client sockets here, 10k in the server) is at risk.
const ENOUGH_OPEN_FILES = 30_000;
const REEXEC_GUARD = 'BENCH_OPEN_FILES_RAISED';
// bash exits with this when `ulimit -n` cannot be raised, so the caller carries on.
const ULIMIT_REFUSED = 97;

function readSysctl(name: string): number | null {
  try {
    return Number(readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8').trim());
  } catch {
    return null; // not Linux, or not visible in this container: reported as unknown
  }
}

function openFilesLimit(): number {
  const text = execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
}

/**
 * Re-runs this script under a raised `ulimit -n` when it is below 30,000 and raising
 * is allowed (root with CAP_SYS_RESOURCE). Returns the child's exit code when it
 * re-ran, or null when the caller should carry on in this process.
 */
export function reexecWithMoreOpenFiles(script: string): number | null {
  if (process.env[REEXEC_GUARD] === '1' || openFilesLimit() >= ENOUGH_OPEN_FILES) return null;
  const child = spawnSync(
    'bash',
    ['-c', `ulimit -n ${WANTED_OPEN_FILES} 2>/dev/null || exit ${ULIMIT_REFUSED}; exec "$0" "$@"`, process.execPath, script],
    {
      stdio: 'inherit',
      env: { ...process.env, [REEXEC_GUARD]: '1' },
    },
  );
  if (child.status === ULIMIT_REFUSED) return null;
  return child.status ?? 1;
}

/** Raises the listen-queue limits where allowed (root may `sysctl -w`) and reports what holds. */
export function raiseSystemLimits(): SystemLimits {
  const before = { somaxconn: readSysctl('net.core.somaxconn'), syn: readSysctl('net.ipv4.tcp_max_syn_backlog') };
  let sysctlMessage: string;
  const result = spawnSync('sysctl', ['-w', `net.core.somaxconn=${WANTED_BACKLOG}`, `net.ipv4.tcp_max_syn_backlog=${WANTED_BACKLOG}`], {
    encoding: 'utf8',
  });
  if (result.error) sysctlMessage = `sysctl not run: ${result.error.message}`;
  else if (result.status !== 0) sysctlMessage = `sysctl -w refused: ${result.stderr.trim()}`;
  else sysctlMessage = `sysctl -w net.core.somaxconn=${WANTED_BACKLOG} net.ipv4.tcp_max_syn_backlog=${WANTED_BACKLOG}`;
  const openFiles = openFilesLimit();
  const openFilesMessage =
    openFiles >= ENOUGH_OPEN_FILES
      ? `ulimit -n ${openFiles}`
      : `ulimit -n ${openFiles} (below ${ENOUGH_OPEN_FILES}; raising it to ${WANTED_OPEN_FILES} was refused)`;
  return {
    somaxconn: { before: before.somaxconn, after: readSysctl('net.core.somaxconn') },
    tcpMaxSynBacklog: { before: before.syn, after: readSysctl('net.ipv4.tcp_max_syn_backlog') },
    sysctlMessage,
    openFiles,
    openFilesMessage,
  };
}
