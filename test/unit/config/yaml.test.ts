// crds/podgroup.yaml and the YAML the inject command prints carry no anchors or aliases
// (controller-gen never emits any; some tools mishandle them).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { injectDocuments } from '../../../src/injection/manifests.js';
import { DEFAULT_GIT_SYNC_IMAGE, DEFAULT_LOG_COLLECTOR_IMAGE } from '../../../src/injection/mutate.js';
import { anchorsAndAliases } from './anchors.js';

describe('YAML without anchors or aliases', () => {
  it('crds/podgroup.yaml', () => {
    expect(anchorsAndAliases(readFileSync(join(REPO_ROOT, 'crds', 'podgroup.yaml'), 'utf8'))).toBe(0);
  });
  it('inject output of every sample (sidecars share volume mounts and env)', () => {
    for (const sample of ['podgroup-sidecars.yaml', 'podgroup-web.yaml', 'podgroup-gang.yaml']) {
      const text = readFileSync(join(REPO_ROOT, 'config', 'samples', sample), 'utf8');
      const out = injectDocuments(text, {
        namespaceEnabled: true,
        settings: { logCollectorImage: DEFAULT_LOG_COLLECTOR_IMAGE, gitSyncImage: DEFAULT_GIT_SYNC_IMAGE, nativeSidecars: true },
      });
      expect(anchorsAndAliases(out)).toBe(0);
    }
  });
  it('the check finds them', () => {
    expect(anchorsAndAliases('a: &x {b: 1}\nc: *x\n')).toBe(2);
  });
});
