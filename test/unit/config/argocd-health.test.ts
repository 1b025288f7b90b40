// Argo CD's own test layout for config/argocd/resource_customizations/<group>/<kind>: every case
// of health_test.yaml runs its testdata object through health.lua on gopher-lua, the interpreter
// Argo CD embeds, with the libraries Argo CD opens for a script set in argocd-cm.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { argoHealth, ARGOCD_CUSTOMIZATIONS, gitopsToolsDir, type Verdict } from '../../../hack/gitops-tools.js';

interface HealthTests {
  tests: { healthStatus: Verdict; inputPath: string }[];
}

const kinds = readdirSync(ARGOCD_CUSTOMIZATIONS, { withFileTypes: true })
  .filter((group) => group.isDirectory())
  .flatMap((group) => readdirSync(join(ARGOCD_CUSTOMIZATIONS, group.name)).map((kind) => join(group.name, kind)));

describe.each(kinds)('Argo CD health check %s', (kind) => {
  // The checker is built once (about 40 s cold; .ci/run builds it before the tests).
  beforeAll(() => void gitopsToolsDir(), 600_000);

  const dir = join(ARGOCD_CUSTOMIZATIONS, kind);
  const script = readFileSync(join(dir, 'health.lua'), 'utf8');
  const { tests } = parse(readFileSync(join(dir, 'health_test.yaml'), 'utf8')) as HealthTests;

  it('every testdata object is in health_test.yaml', () => {
    expect(tests.map((t) => t.inputPath).sort()).toEqual(
      readdirSync(join(dir, 'testdata'))
        .map((f) => `testdata/${f}`)
        .sort(),
    );
  });

  it('health_test.yaml: each object gets its expected status and message', () => {
    const objects = tests.map((t) => parse(readFileSync(join(dir, t.inputPath), 'utf8')) as object);
    const verdicts = argoHealth(script, objects);
    expect(verdicts.map((v, i) => ({ input: tests[i]?.inputPath, ...v }))).toEqual(tests.map((t) => ({ input: t.inputPath, ...t.healthStatus })));
  });

  it("covers Argo CD's statuses for a Deployment: Progressing, Healthy, Degraded, Suspended", () => {
    expect(new Set(tests.map((t) => t.healthStatus.status))).toEqual(new Set(['Progressing', 'Healthy', 'Degraded', 'Suspended']));
  });

  it('an object without status (just created) is Progressing, and a script error is reported', () => {
    const [fresh, broken] = argoHealth(script, [
      { apiVersion: 'podgroup.dev/v1', kind: 'PodGroup', metadata: { name: 'new', generation: 1 }, spec: { replicas: 2 } },
    ]).concat(argoHealth('return obj.spec.nothing.here', [{ spec: {} }]));
    expect(fresh?.status).toBe('Progressing');
    expect(broken?.error).toMatch(/attempt to index/);
  });
});
