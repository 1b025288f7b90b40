// Ways of writing the same pod template: what a Helm chart upgrade or a kustomize change of
// quantity format sends. The API server stores every spelling of a Deployment's template alike
// (defaulting, canonical quantities), so a respell must roll no pods of either kind.
import type * as k8s from '@kubernetes/client-node';

export const SPELLINGS = 4;

/**
 * The workload's one container as spelling `n` writes it (the same container for every n). A
 * quantity keeps its format (decimal, binary) when stored, so every spelling of one value stays
 * in its format: `64Mi` may be `65536Ki`, never `67108864`.
 */
export function spelledContainer(image: string, n: number): k8s.V1Container {
  const base = { name: 'app', image };
  switch (n % SPELLINGS) {
    case 1:
      return {
        ...base,
        imagePullPolicy: 'IfNotPresent',
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        ports: [{ containerPort: 8080, protocol: 'TCP' }],
        resources: { requests: { cpu: '0.1', memory: '65536Ki' }, limits: { cpu: '1000m' } },
      };
    case 2:
      // A YAML integer for the CPU limit: a JSON number, not a string.
      return { ...base, ports: [{ containerPort: 8080 }], resources: { requests: { cpu: '.1', memory: '0.0625Gi' }, limits: { cpu: 1 as unknown as string } } };
    case 3:
      return {
        ...base,
        ports: [{ containerPort: 8080, protocol: 'TCP', hostPort: 0 }],
        resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1.0' } },
        stdin: false,
      };
    default:
      return { ...base, ports: [{ containerPort: 8080 }], resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1' } } };
  }
}

/**
 * The pod-level fields spelling `n` writes explicitly (at their defaults), with null for the
 * ones it leaves out, so a merge patch moves from any spelling to any other.
 */
export function spelledPodFields(n: number): Record<string, unknown> {
  switch (n % SPELLINGS) {
    case 1:
      return { dnsPolicy: 'ClusterFirst', restartPolicy: null, securityContext: null };
    case 2:
      return { dnsPolicy: null, restartPolicy: 'Always', securityContext: {} };
    default:
      return { dnsPolicy: null, restartPolicy: null, securityContext: null };
  }
}
