import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';

// The Kubernetes objects as the cluster gets them: each kustomization rendered by a real
// kustomize (the binary the `kustomize` package ships, pinned in package.json; Debian has
// none and no network is needed), as `kubectl apply -k` would render it.

export const K8S = join(import.meta.dirname, 'k8s');

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are YAML read as they come */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

const kustomize = fileURLToPath(import.meta.resolve('kustomize/run.js'));

function build(dir: string): K8sObject[] {
  let output: string;
  try {
    output = execFileSync(process.execPath, [kustomize, 'build', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stderr = '' } = error as { stderr?: string };
    throw new Error(`kustomize build ${relative(K8S, dir) || dir} failed:\n${stderr}`, { cause: error });
  }
  return parseAllDocuments(output).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`kustomize build ${dir}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as K8sObject;
  });
}

const rendered = new Map<string, K8sObject[]>();

/** The objects a kustomization of infra/k8s renders to ("base", "overlays/demo"); each a fresh copy. */
export function render(kustomization: string): K8sObject[] {
  if (!rendered.has(kustomization)) rendered.set(kustomization, build(join(K8S, kustomization)));
  return structuredClone(rendered.get(kustomization)!);
}

/**
 * The objects of a kustomization made on the spot from `resources` and `components` of
 * infra/k8s (what an operator's own overlay would hold): kustomize takes relative paths
 * only, so it is written in a temporary directory that refers back to them.
 */
export function renderWith(parts: { resources: string[]; components?: string[] }): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'esh3ar-kustomization-'));
  try {
    const path = (part: string) => relative(dir, join(K8S, part));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      stringify({ resources: parts.resources.map(path), components: (parts.components ?? []).map(path) }),
    );
    return build(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The example Secret (infra/k8s/secret.example.yaml), which no kustomization applies. */
export function exampleSecret(): K8sObject & { stringData: Record<string, string> } {
  return parse(readFileSync(join(K8S, 'secret.example.yaml'), 'utf8')) as K8sObject & { stringData: Record<string, string> };
}

/** A kustomization.yaml (or a Component's) of infra/k8s, as written. */
export function kustomization(dir: string): Record<string, any> {
  return parse(readFileSync(join(K8S, dir, 'kustomization.yaml'), 'utf8')) as Record<string, any>;
}

export const ofKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
export const named = (objects: K8sObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

/** Whether a label selector's matchLabels (or a Service's plain selector) all hold in `labels`. */
export const matches = (selector: Record<string, string> = {}, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
