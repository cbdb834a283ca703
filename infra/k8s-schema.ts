import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';

// The rendered manifests checked against the OpenAPI schemas of Kubernetes and the CRD
// schemas of KEDA and the prometheus-operator, offline, as kubeconform -strict would:
// kubernetes-models compiles each into a validator per kind. kubernetes-models 5 carries
// Kubernetes 1.36's schemas (formats, enums, required fields); 1.30, which we target,
// serves every kind below at the version named, and k8s-api-types.ts holds every field of
// the built-in kinds to 1.30's API.

/** The kinds the manifests may use, each at the one API version we deploy. */
export const MODELS = [
  Namespace,
  ConfigMap,
  Secret,
  Service,
  Deployment,
  PodDisruptionBudget,
  HorizontalPodAutoscaler,
  NetworkPolicy,
  ScaledObject,
  ServiceMonitor,
  PrometheusRule,
] as const;

/** A proxy of `value` (and of every object under it) that adds the path of each own field read to `read`. */
function recordingReads(value: unknown, path: string, read: Set<string>): unknown {
  if (value === null || typeof value !== 'object') return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key !== 'string' || !Object.hasOwn(target, key)) return Reflect.get(target, key, receiver) as unknown;
      read.add(`${path}/${key}`);
      return recordingReads(Reflect.get(target, key, receiver), `${path}/${key}`, read);
    },
  });
}

/** The fields under `value` that were never read, without those under them. */
function unread(value: unknown, path: string, read: ReadonlySet<string>): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) =>
    read.has(`${path}/${key}`) ? unread(child, `${path}/${key}`, read) : [`${path}/${key}`],
  );
}

/**
 * What the schema of its kind finds wrong with a manifest object: a wrong type, a missing
 * required field, a value outside an enum — and a field the schema does not describe.
 * The schemas allow unknown fields (the API server drops them, or refuses them under
 * strict field validation, as `kubeconform -strict` does), so a misspelt key would pass
 * them: it shows as a field the validator never looked at, since the validator reads
 * every field its schema names and every key of a map.
 */
export function schemaProblems(object: { apiVersion?: unknown; kind?: unknown }): string[] {
  const model = MODELS.find((m) => m.kind === object.kind);
  if (model === undefined) return [`kind ${String(object.kind)} is not one we deploy`];
  if (object.apiVersion !== model.apiVersion) return [`${model.kind} is served at ${model.apiVersion}, not ${String(object.apiVersion)}`];
  const read = new Set<string>();
  const problems: string[] = [];
  try {
    (recordingReads(new model(object as never), '', read) as InstanceType<typeof model>).validate();
  } catch (error) {
    problems.push((error as Error).message);
  }
  return [...problems, ...unread(object, '', read).map((path) => `${path}: a field the ${model.kind} schema does not know`)];
}
