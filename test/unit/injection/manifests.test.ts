import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { injectDocuments } from '../../../src/injection/manifests.js';

const settings = { logCollectorImage: 'fb:1', gitSyncImage: 'gs:1', nativeSidecars: true };

describe('injectDocuments (kubectl podgroup inject)', () => {
  it('injects into a Pod, a Deployment template and a PodGroup per its spec.sidecars; leaves others alone', () => {
    const input = `
apiVersion: v1
kind: Pod
metadata: {name: p, annotations: {sidecars.podgroup.dev/inject: log-collector}}
spec: {containers: [{name: app, image: a}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    metadata: {annotations: {sidecars.podgroup.dev/git-repo: "https://example.com/r.git", sidecars.podgroup.dev/inject: git-sync}}
    spec: {containers: [{name: app, image: a}]}
---
apiVersion: podgroup.dev/v1alpha1
kind: PodGroup
metadata: {name: g}
spec:
  sidecars: {logCollector: {path: /logs}}
  template: {spec: {containers: [{name: app, image: a}]}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
`;
    const docs = parseAllDocuments(injectDocuments(input, { namespaceEnabled: false, settings })).map((d) => d.toJS());
    expect(docs[0].spec.initContainers[0].name).toBe('log-collector');
    expect(docs[1].spec.template.spec.initContainers[0].name).toBe('git-sync');
    expect(docs[2].spec.template.spec.initContainers[0].volumeMounts[0].mountPath).toBe('/logs');
    expect(docs[3]).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } });
  });

  it('names the object and the annotation on bad input', () => {
    const input = 'kind: Pod\nmetadata: {name: p, annotations: {sidecars.podgroup.dev/inject: git-sync}}\nspec: {containers: [{name: a, image: b}]}\n';
    expect(() => injectDocuments(input, { namespaceEnabled: false, settings })).toThrow('Pod p: sidecars.podgroup.dev/git-repo: git-sync needs a repository');
    expect(() => injectDocuments('kind: [', { namespaceEnabled: false, settings })).toThrow('invalid YAML');
  });
});
