import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from 'kubernetes-types/networking/v1.js';
import type { K8sObject } from './k8s-render.ts';

// Whether a connection is allowed by a namespace's NetworkPolicies, as the API defines
// it (kubernetes.io/docs/concepts/services-networking/network-policies): a pod that a
// policy of a direction selects is isolated for it, and then only what some such policy's
// rule allows gets through; the two ends must each allow their side. Only what our
// manifests use: pod and namespace selectors, ports by number or name; ipBlock peers are
// taken as matching no pod and nothing outside.

/** One end of a connection: a pod (its labels, its namespace's labels, its named ports), or an address outside the cluster. */
export type Peer = { pod: Record<string, string>; namespace: Record<string, string>; ports?: Record<string, number> } | { outside: true };

function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (selector === undefined) return false;
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    byLabel &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      switch (operator) {
        case 'In':
          return key in labels && values.includes(labels[key]!);
        case 'NotIn':
          return !(key in labels && values.includes(labels[key]!));
        case 'Exists':
          return key in labels;
        case 'DoesNotExist':
          return !(key in labels);
        default:
          throw new Error(`unknown label selector operator ${operator}`);
      }
    })
  );
}

function peerMatches(entry: NetworkPolicyPeer, peer: Peer, policyNamespace: Record<string, string>): boolean {
  if ('outside' in peer) return false;
  if (entry.ipBlock) return false;
  const namespaceOk = entry.namespaceSelector
    ? selects(entry.namespaceSelector, peer.namespace)
    : sameNamespace(peer.namespace, policyNamespace);
  const podOk = entry.podSelector ? selects(entry.podSelector, peer.pod) : true;
  return namespaceOk && podOk;
}
const sameNamespace = (a: Record<string, string>, b: Record<string, string>) =>
  a['kubernetes.io/metadata.name'] === b['kubernetes.io/metadata.name'];

/** Whether the policies of `subject`'s namespace let `subject` take (ingress) or open (egress) a connection with `peer` on `port`. */
function allowsSide(
  policies: NetworkPolicy[],
  direction: 'Ingress' | 'Egress',
  subject: Extract<Peer, { pod: unknown }>,
  peer: Peer,
  port: { number: number; name?: string; protocol: string },
): boolean {
  const applying = policies.filter(
    (p) =>
      p.metadata?.namespace === subject.namespace['kubernetes.io/metadata.name'] &&
      selects(p.spec?.podSelector, subject.pod) &&
      (p.spec?.policyTypes ?? ['Ingress']).includes(direction),
  );
  if (applying.length === 0) return true;
  const portMatches = (p: NetworkPolicyPort) =>
    (p.protocol ?? 'TCP') === port.protocol &&
    (p.port === undefined || p.port === port.number || (port.name !== undefined && p.port === port.name));
  const rules = (policy: NetworkPolicy) =>
    direction === 'Ingress'
      ? (policy.spec?.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }))
      : (policy.spec?.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
  return applying.some((policy) =>
    rules(policy).some(
      ({ peers = [], ports = [] }) =>
        (peers.length === 0 || peers.some((entry) => peerMatches(entry, peer, subject.namespace))) &&
        (ports.length === 0 || ports.some(portMatches)),
    ),
  );
}

/**
 * Whether `from` may open a connection to `to` on `port` (its number, and its name on
 * `to`'s container when `to` is a pod) under the NetworkPolicies among `objects`.
 */
export function allowed(objects: K8sObject[], from: Peer, to: Peer, port: number, protocol = 'TCP'): boolean {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicy[];
  const name = 'pod' in to ? Object.entries(to.ports ?? {}).find(([, n]) => n === port)?.[0] : undefined;
  const egressOk = 'pod' in from ? allowsSide(policies, 'Egress', from, to, { number: port, protocol }) : true;
  const ingressOk = 'pod' in to ? allowsSide(policies, 'Ingress', to, from, { number: port, name, protocol }) : true;
  return egressOk && ingressOk;
}
