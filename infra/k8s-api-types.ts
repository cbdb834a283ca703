import { join } from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './k8s-render.ts';

// The manifests held to the API of the Kubernetes version we target, 1.30: kubernetes-types
// 1.30.0 is that release's OpenAPI as TypeScript types, so each built-in object is
// type-checked as an object literal of its kind. TypeScript refuses a property its type
// does not declare at any depth, so a field added after 1.30 fails here even though the
// newer schemas of k8s-schema.ts know it (a cluster at 1.30 would drop or refuse it).

export const TARGET_KUBERNETES = '1.30';

/** Each built-in kind we deploy: the kubernetes-types module and type that describe it. */
const TYPES: Record<string, { module: string; type: string }> = {
  'v1/Namespace': { module: 'core/v1', type: 'Namespace' },
  'v1/ConfigMap': { module: 'core/v1', type: 'ConfigMap' },
  'v1/Secret': { module: 'core/v1', type: 'Secret' },
  'v1/Service': { module: 'core/v1', type: 'Service' },
  'apps/v1/Deployment': { module: 'apps/v1', type: 'Deployment' },
  'policy/v1/PodDisruptionBudget': { module: 'policy/v1', type: 'PodDisruptionBudget' },
  'autoscaling/v2/HorizontalPodAutoscaler': { module: 'autoscaling/v2', type: 'HorizontalPodAutoscaler' },
  'networking.k8s.io/v1/NetworkPolicy': { module: 'networking/v1', type: 'NetworkPolicy' },
};

/** Whether `object` is a built-in kind (the others are custom resources, for k8s-schema.ts alone). */
export const isBuiltIn = (object: K8sObject) => `${object.apiVersion}/${object.kind}` in TYPES;

/** What TypeScript finds wrong with each built-in object as its 1.30 type, as "Kind/name: message". */
export function apiTypeProblems(objects: K8sObject[]): string[] {
  const checked = objects.filter(isBuiltIn);
  // In infra/, so that `kubernetes-types` resolves from the repository's node_modules; never written to disk.
  const file = join(import.meta.dirname, '__k8s_api_types__.ts');
  const source = checked
    .map((object, i) => {
      const { module, type } = TYPES[`${object.apiVersion}/${object.kind}`]!;
      return `export const o${i}: import('kubernetes-types/${module}').${type} = ${JSON.stringify(object)};`;
    })
    .join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    types: [],
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.fileExists = (name) => name === file || ts.sys.fileExists(name);
  host.readFile = (name) => (name === file ? source : readFile(name));
  host.getSourceFile = (name, language, onError) =>
    name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, onError);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const object = checked[line];
    const at = object ? `${object.kind}/${object.metadata.name}` : (d.file?.fileName ?? 'TypeScript');
    return `${at}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}
