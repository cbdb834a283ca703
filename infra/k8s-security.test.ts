import { describe, expect, it } from 'vitest';
import { BACKLOG_VARS, listenBacklog } from './apps.ts';
import { named, ofKind, render, renderWith, type K8sObject } from './k8s-render.ts';
import { allowed, type Peer } from './network-policy.ts';
import { baselineViolations, restrictedViolations } from './pod-security.ts';

// What a stock cluster enforces: Pod Security "restricted" on every pod (no unsafe
// sysctl unless components/somaxconn is chosen, with what that costs), and the
// NetworkPolicies: who reaches which pod, and what each pod reaches.

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are YAML read as they come */
const base = render('base');
const demo = render('overlays/demo');
const somaxconn = renderWith({ resources: ['base'], components: ['components/somaxconn'] });
const podTemplates = (objects: K8sObject[]) =>
  ofKind(objects, 'Deployment').map((d) => ({ name: d.metadata.name, spec: d.spec.template.spec }));

describe('Pod Security', () => {
  it.each([
    ['infra/k8s/base', base],
    ['infra/k8s/overlays/demo', demo],
  ])('%s: every pod passes "restricted", which the namespace enforces, with a read-only root filesystem', (_, objects) => {
    expect(named(objects, 'Namespace', 'esh3ar')!.metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    expect(podTemplates(objects).length).toBeGreaterThanOrEqual(3);
    for (const { name, spec } of podTemplates(objects)) {
      expect(restrictedViolations(spec), name).toEqual([]);
      for (const c of spec.containers) expect(c.securityContext.readOnlyRootFilesystem, `${name}/${c.name}`).toBe(true);
      expect(spec.automountServiceAccountToken, name).toBe(false);
    }
  });

  it('would refuse root, privilege escalation, kept capabilities, no seccomp profile and an unsafe sysctl', () => {
    const spec = structuredClone(podTemplates(base)[0]!.spec);
    spec.securityContext = { runAsUser: 0, sysctls: [{ name: 'net.core.somaxconn', value: '16384' }] };
    spec.hostNetwork = true;
    spec.containers[0].securityContext = { capabilities: { add: ['SYS_ADMIN'] } };
    spec.volumes = [{ name: 'host', hostPath: { path: '/' } }];
    const name = spec.containers[0].name;
    expect(baselineViolations(spec).sort()).toEqual(
      [`${name} adds SYS_ADMIN`, 'hostNetwork is true', 'sysctl net.core.somaxconn is not a safe one', 'volume host is a hostPath'].sort(),
    );
    expect(restrictedViolations(spec)).toEqual(
      expect.arrayContaining([
        'the pod runs as user 0',
        `${name}: allowPrivilegeEscalation is not false`,
        `${name}: runAsNonRoot is not true`,
        `${name}: no RuntimeDefault or Localhost seccomp profile`,
        `${name} does not drop ALL capabilities`,
        'volume host is of a type restricted refuses',
      ]),
    );
  });

  it('components/somaxconn raises somaxconn to the api’s and the gateway’s listen backlog, and only then enforces "privileged"', () => {
    const pods = podTemplates(somaxconn);
    for (const [app, backlogVar] of Object.entries(BACKLOG_VARS)) {
      const { spec } = pods.find((p) => p.name === `esh3ar-${app}`)!;
      const sysctl = (spec.securityContext.sysctls ?? []).find((s: any) => s.name === 'net.core.somaxconn');
      const env = spec.containers[0].env.find((e: any) => e.name === backlogVar);
      expect(Number(sysctl?.value), app).toBeGreaterThanOrEqual(listenBacklog(app, env?.value));
      expect(baselineViolations(spec), app).toEqual(['sysctl net.core.somaxconn is not a safe one']);
    }
    expect(named(somaxconn, 'Namespace', 'esh3ar')!.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'privileged',
      'pod-security.kubernetes.io/warn': 'restricted',
    });
    for (const { spec } of [...podTemplates(base), ...podTemplates(demo)]) expect(spec.securityContext.sysctls).toBeUndefined();
  });
});

describe('NetworkPolicies', () => {
  const policies = (objects: K8sObject[]) => ofKind(objects, 'NetworkPolicy');
  const ESH3AR = { 'kubernetes.io/metadata.name': 'esh3ar' };
  /** A pod of a Deployment, with its labels and its named ports. */
  const pod = (objects: K8sObject[], name: string): Peer => {
    const d = named(objects, 'Deployment', name)!;
    const ports = Object.fromEntries(
      d.spec.template.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => [p.name, p.containerPort])),
    );
    return { pod: d.spec.template.metadata.labels, namespace: ESH3AR, ports };
  };
  const prometheus: Peer = { pod: { 'app.kubernetes.io/name': 'prometheus' }, namespace: { 'kubernetes.io/metadata.name': 'monitoring' } };
  const elsewhere: Peer = { pod: { app: 'other' }, namespace: { 'kubernetes.io/metadata.name': 'default' } };
  const neighbour: Peer = { pod: { app: 'other' }, namespace: ESH3AR };
  const outside: Peer = { outside: true };

  it.each([
    ['infra/k8s/base', base],
    ['infra/k8s/overlays/demo', demo],
  ])('%s: deny by default; clients reach the api and the gateways on their ports only, Prometheus the workers', (_, objects) => {
    const p = policies(objects);
    const [api, worker, gateway] = ['esh3ar-api', 'esh3ar-worker', 'esh3ar-gateway'].map((name) => pod(objects, name));
    expect(allowed(p, outside, api!, 3000)).toBe(true);
    expect(allowed(p, elsewhere, api!, 3000)).toBe(true);
    expect(allowed(p, outside, api!, 9229)).toBe(false);
    expect(allowed(p, outside, gateway!, 3001)).toBe(true);
    expect(allowed(p, outside, gateway!, 3000)).toBe(false);
    expect(allowed(p, prometheus, worker!, 9400)).toBe(true);
    expect(allowed(p, elsewhere, worker!, 9400)).toBe(false);
    expect(allowed(p, neighbour, worker!, 9400)).toBe(false);
    expect(allowed(p, api!, worker!, 9400)).toBe(false);
  });

  it.each([
    ['infra/k8s/base', base],
    ['infra/k8s/overlays/demo', demo],
  ])('%s: only the api, the workers and the gateways reach PostgreSQL, Redis and DNS; only the workers the providers', (_, objects) => {
    const p = policies(objects);
    const apps = ['esh3ar-api', 'esh3ar-worker', 'esh3ar-gateway'].map((name) => pod(objects, name));
    for (const from of apps) {
      for (const port of [5432, 6379]) expect(allowed(p, from, outside, port)).toBe(true);
      expect(allowed(p, from, outside, 53, 'UDP')).toBe(true);
      expect(allowed(p, from, outside, 22)).toBe(false);
    }
    for (const from of [neighbour, ...(named(objects, 'Deployment', 'esh3ar-provider-sim') ? [pod(objects, 'esh3ar-provider-sim')] : [])])
      for (const port of [5432, 6379]) expect(allowed(p, from, outside, port)).toBe(false);
    const [api, worker] = apps;
    for (const port of [443, 465, 587]) expect(allowed(p, worker!, outside, port)).toBe(true);
    expect(allowed(p, api!, outside, 443)).toBe(false);
    expect(allowed(p, api!, outside, 587)).toBe(false);
  });

  it('demo: the workers reach provider-sim, which nothing else in the namespace reaches but Prometheus', () => {
    const p = policies(demo);
    const sim = pod(demo, 'esh3ar-provider-sim');
    expect(allowed(p, pod(demo, 'esh3ar-worker'), sim, 3002)).toBe(true);
    expect(allowed(p, prometheus, sim, 3002)).toBe(true);
    expect(allowed(p, pod(demo, 'esh3ar-api'), sim, 3002)).toBe(false);
    expect(allowed(p, outside, sim, 3002)).toBe(false);
    expect(policies(base).some((policy) => policy.metadata.name.includes('provider-sim'))).toBe(false);
  });
});
