// The pod a PodGroup creates from a revision's template.
import type * as k8s from '@kubernetes/client-node';
import { REVISION_HASH_LABEL, type PodGroup } from '../api/podgroup.js';
import { POD_LABEL } from '../injection/config.js';
import { controllerRef } from './revisions.js';

export function podFromTemplate(pg: PodGroup, template: k8s.V1PodTemplateSpec, hash: string, schedulerName: string | undefined): k8s.V1Pod {
  const spec: k8s.V1PodSpec = structuredClone(template.spec ?? { containers: [] });
  if (schedulerName !== undefined && (spec.schedulerName === undefined || spec.schedulerName === '')) {
    spec.schedulerName = schedulerName;
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      // The API server appends 5 random characters: <podgroup>-<hash>-<xxxxx>.
      generateName: `${pg.metadata?.name ?? ''}-${hash}-`,
      namespace: pg.metadata?.namespace,
      // The label routes pods of PodGroups with spec.sidecars to the injection webhook.
      labels: { ...template.metadata?.labels, [REVISION_HASH_LABEL]: hash, ...(pg.spec.sidecars === undefined ? {} : { [POD_LABEL]: 'true' }) },
      annotations: template.metadata?.annotations === undefined ? undefined : { ...template.metadata.annotations },
      ownerReferences: [controllerRef(pg)],
    },
    spec,
  };
}
