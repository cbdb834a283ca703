// The Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards,
// v1.30), the checks the API server's admission runs for a namespace labelled
// pod-security.kubernetes.io/enforce: baseline or restricted, applied to a pod template.

import type { PodSpec, SecurityContext } from 'kubernetes-types/core/v1.js';

/** The sysctls baseline allows; any other (net.core.somaxconn among them) is refused. */
export const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

/** Every container of a pod, with the fields the standards read. */
const containersOf = (spec: PodSpec): { name: string; securityContext?: SecurityContext; ports?: { hostPort?: number }[] }[] => [
  ...(spec.initContainers ?? []),
  ...spec.containers,
  ...(spec.ephemeralContainers ?? []),
];

/** What baseline refuses in a pod spec. */
export function baselineViolations(spec: PodSpec): string[] {
  const found: string[] = [];
  for (const host of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (spec[host] === true) found.push(`${host} is true`);
  for (const v of spec.volumes ?? []) if (v.hostPath) found.push(`volume ${v.name} is a hostPath`);
  for (const s of spec.securityContext?.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) found.push(`sysctl ${s.name} is not a safe one`);
  const contexts: (SecurityContext | NonNullable<PodSpec['securityContext']>)[] = [
    spec.securityContext ?? {},
    ...containersOf(spec).map((c) => c.securityContext ?? {}),
  ];
  for (const context of contexts) {
    if (context.seccompProfile?.type === 'Unconfined') found.push('a seccomp profile is Unconfined');
    if (context.appArmorProfile?.type === 'Unconfined') found.push('an AppArmor profile is Unconfined');
    if (context.seLinuxOptions?.user || context.seLinuxOptions?.role) found.push('SELinux user or role set');
  }
  for (const c of containersOf(spec)) {
    const context: SecurityContext = c.securityContext ?? {};
    if (context.privileged === true) found.push(`${c.name} is privileged`);
    for (const cap of context.capabilities?.add ?? []) if (!BASELINE_CAPABILITIES.has(cap)) found.push(`${c.name} adds ${cap}`);
    if (context.procMount !== undefined && context.procMount !== 'Default') found.push(`${c.name} procMount ${context.procMount}`);
    for (const p of c.ports ?? []) if (p.hostPort) found.push(`${c.name} uses hostPort ${p.hostPort}`);
  }
  return found;
}

/** What restricted refuses in a pod spec: baseline's and its own. */
export function restrictedViolations(spec: PodSpec): string[] {
  const found = baselineViolations(spec);
  const pod = spec.securityContext ?? {};
  for (const v of spec.volumes ?? [])
    if (!RESTRICTED_VOLUMES.some((type) => type in v)) found.push(`volume ${v.name} is of a type restricted refuses`);
  if (pod.runAsUser === 0) found.push('the pod runs as user 0');
  for (const c of containersOf(spec)) {
    const context: SecurityContext = c.securityContext ?? {};
    if (context.allowPrivilegeEscalation !== false) found.push(`${c.name}: allowPrivilegeEscalation is not false`);
    if (!(context.runAsNonRoot ?? pod.runAsNonRoot)) found.push(`${c.name}: runAsNonRoot is not true`);
    if (context.runAsUser === 0) found.push(`${c.name} runs as user 0`);
    const seccomp = context.seccompProfile?.type ?? pod.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') found.push(`${c.name}: no RuntimeDefault or Localhost seccomp profile`);
    if (!(context.capabilities?.drop ?? []).includes('ALL')) found.push(`${c.name} does not drop ALL capabilities`);
    for (const cap of context.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') found.push(`${c.name} adds ${cap}`);
  }
  return found;
}
