// Generates crds/podgroup.yaml: our own fields (podgroup-schema.ts) plus a complete pod
// template schema expanded from a real API server's OpenAPI v3 (so descriptions and types are
// exactly Kubernetes' own, for the version we run).
//
// Run it with `npm run generate` (hack/crd/main.ts); the e2e suite checks the committed file
// is what the local cluster's OpenAPI produces.
import { request } from 'node:https';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../control-plane/paths.js';
import { podGroupCrd, type Schema } from './podgroup-schema.js';

export const CRD_FILE = join(REPO_ROOT, 'crds', 'podgroup.yaml');
const REF_PREFIX = '#/components/schemas/';

/** Keys a structural CRD schema may keep from the upstream OpenAPI. */
const KEPT = new Set(['description', 'type', 'format', 'properties', 'items', 'additionalProperties', 'required', 'enum', 'x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields']);

const SPECIAL: Record<string, Schema> = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': {
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    'x-kubernetes-int-or-string': true,
    pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': { type: 'string', format: 'date-time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': { type: 'string', format: 'date-time' },
};

/** The template's metadata: what kube-controller-manager copies from a template to its pods. */
const TEMPLATE_METADATA: Schema = {
  description: 'Labels, annotations and finalizers for every pod of this PodGroup. The labels must match spec.selector.',
  type: 'object',
  properties: {
    labels: {
      description: 'Labels of the pods. The controller adds controller-revision-hash.',
      type: 'object',
      additionalProperties: { type: 'string' },
      maxProperties: 256,
    },
    annotations: { description: 'Annotations of the pods.', type: 'object', additionalProperties: { type: 'string' } },
    finalizers: {
      description: 'Finalizers of the pods, as a Deployment\'s template carries them (e.g. to hold a pod in Terminating until something outside has finished with it).',
      type: 'array',
      items: { type: 'string' },
      'x-kubernetes-list-type': 'set',
    },
  },
};

export function expandTemplate(schemas: Record<string, Schema>): Schema {
  const expand = (node: Schema, stack: string[]): Schema => {
    const ref = (node.$ref as string | undefined) ?? ((node.allOf as Schema[] | undefined)?.[0]?.$ref as string | undefined);
    if (ref !== undefined) {
      const name = ref.slice(REF_PREFIX.length);
      const description = node.description as string | undefined;
      if (name === 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta') {
        return TEMPLATE_METADATA;
      }
      const target = SPECIAL[name] ?? schemas[name];
      if (target === undefined) {
        throw new Error(`unknown schema ${name}`);
      }
      if (stack.includes(name)) {
        throw new Error(`recursive schema ${[...stack, name].join(' → ')}`);
      }
      const expanded = SPECIAL[name] ? { ...target } : expand(target, [...stack, name]);
      return description === undefined ? expanded : { ...expanded, description };
    }
    const out: Schema = {};
    for (const [key, value] of Object.entries(node)) {
      if (!KEPT.has(key)) {
        continue;
      }
      if (key === 'format' && value === 'int-or-string') {
        continue;
      }
      if (key === 'properties') {
        out.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, expand(v, stack)]));
      } else if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) {
        out[key] = expand(value as Schema, stack);
      } else {
        out[key] = value;
      }
    }
    if (out.type === undefined && out.properties !== undefined) {
      out.type = 'object';
    }
    return out;
  };
  const root = schemas['io.k8s.api.core.v1.PodTemplateSpec'];
  if (root === undefined) {
    throw new Error('the OpenAPI document has no io.k8s.api.core.v1.PodTemplateSpec');
  }
  return expand(root, ['io.k8s.api.core.v1.PodTemplateSpec']);
}

export async function fetchCoreSchemas(kc: k8s.KubeConfig): Promise<Record<string, Schema>> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) {
    throw new Error('no current cluster in the kubeconfig');
  }
  const options: import('node:https').RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(`${cluster.server}/openapi/v3/api/v1`, options, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (data += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`GET /openapi/v3/api/v1: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
  const doc = JSON.parse(body) as { components: { schemas: Record<string, Schema> } };
  return doc.components.schemas;
}

export async function renderCrd(kc: k8s.KubeConfig): Promise<string> {
  const template = expandTemplate(await fetchCoreSchemas(kc));
  const header = '# Generated by hack/crd/generate.ts from podgroup-schema.ts and the API server\'s OpenAPI. Do not edit.\n';
  return header + stringify(podGroupCrd(template), { lineWidth: 0, aliasDuplicateObjects: false });
}
