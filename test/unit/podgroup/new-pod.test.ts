import { describe, expect, it } from '@jest/globals';
import { REVISION_HASH_LABEL, type PodGroup } from '../../../src/api/podgroup.js';
import { generatedName, podFromRevision } from '../../../src/podgroup/new-pod.js';

const pg: PodGroup = {
  apiVersion: 'podgroup.dev/v1alpha1',
  kind: 'PodGroup',
  metadata: { name: 'web', namespace: 'ns', uid: 'u1' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'x' }] } },
  },
};

describe('generatedName', () => {
  it('appends five characters of the API server alphabet', () => {
    expect(generatedName('web-abc-', () => 0)).toBe('web-abc-bbbbb');
    expect(generatedName('web-abc-')).toMatch(/^web-abc-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  it('cuts the base to 58 characters as generateName does, so the name fits 63', () => {
    expect(generatedName('x'.repeat(80))).toHaveLength(63);
  });
});

describe('podFromRevision', () => {
  it('names the pod <podgroup>-<hash>-<xxxxx>, labels the revision (controller-revision-hash and pod-template-hash) and sets the controller reference', () => {
    const pod = podFromRevision(pg, { template: pg.spec.template }, 'abc', 'podgroup-scheduler');
    expect(pod.metadata?.name).toMatch(/^web-abc-[a-z0-9]{5}$/);
    expect(pod.metadata?.generateName).toBe('web-abc-');
    // pod-template-hash as a Deployment's pods have it, for matchLabelKeys in spreading and affinity.
    expect(pod.metadata?.labels).toEqual({ app: 'web', [REVISION_HASH_LABEL]: 'abc', 'pod-template-hash': 'abc' });
    expect(pod.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'PodGroup', name: 'web', uid: 'u1', controller: true })]);
    expect(pod.spec?.schedulerName).toBe('podgroup-scheduler');
    expect(pod.metadata?.finalizers).toBeUndefined();
  });

  it("copies the template's annotations and finalizers, as kube-controller-manager does", () => {
    const template = { ...pg.spec.template, metadata: { labels: { app: 'web' }, annotations: { a: 'b' }, finalizers: ['example.com/hold'] } };
    const pod = podFromRevision(pg, { template }, 'abc', undefined);
    expect(pod.metadata?.annotations).toEqual({ a: 'b' });
    expect(pod.metadata?.finalizers).toEqual(['example.com/hold']);
    expect(pod.metadata?.finalizers).not.toBe(template.metadata.finalizers);
  });
});
