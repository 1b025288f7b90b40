import { describe, expect, it } from '@jest/globals';
import { REVISION_SIDECARS_ANNOTATION } from '../../../src/api/podgroup.js';
import { InjectionError, resolveRequest, revisionSidecars } from '../../../src/injection/config.js';

describe('revisionSidecars: the sidecar settings a pod carries from its PodGroup revision', () => {
  it('reads them from the annotation the controller stamps, and drives injection from them', () => {
    const annotations = { [REVISION_SIDECARS_ANNOTATION]: JSON.stringify({ logCollector: { enabled: true, path: '/var/log/old' } }) };
    const sidecars = revisionSidecars(annotations);
    expect(sidecars).toEqual({ logCollector: { enabled: true, path: '/var/log/old' } });
    expect(resolveRequest({ annotations, namespaceOptIn: false, podGroupSidecars: sidecars })?.logCollector).toMatchObject({ path: '/var/log/old' });
  });

  it('is undefined without the annotation, and a clear error for a malformed one', () => {
    expect(revisionSidecars({})).toBeUndefined();
    expect(() => revisionSidecars({ [REVISION_SIDECARS_ANNOTATION]: '{' })).toThrow(InjectionError);
    expect(() => revisionSidecars({ [REVISION_SIDECARS_ANNOTATION]: '[1]' })).toThrow(/must be a JSON object/);
  });
});
