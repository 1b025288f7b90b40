import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { canonicalQuantity, normalizeSidecars, normalizeTemplate } from '../../../src/podgroup/normalize-template.js';
import { contentHash, decideUpdateRevision, newRevision, sameContent } from '../../../src/podgroup/revisions.js';
import { spec } from './fixtures.js';

describe('canonicalQuantity (resource.Quantity canonical form)', () => {
  it.each([
    ['0.5', '500m'],
    [0.5, '500m'],
    ['1000m', '1'],
    ['1', '1'],
    [1, '1'],
    [2, '2'],
    ['0', '0'],
    ['0m', '0'],
    ['0.0', '0'],
    ['100m', '100m'],
    ['0.1', '100m'],
    ['1500m', '1500m'],
    ['1.5', '1500m'],
    ['1.0', '1'],
    ['0.100', '100m'],
    ['12000', '12k'],
    ['12e3', '12e3'],
    ['1e3', '1e3'],
    ['1E3', '1e3'],
    ['1500e-3', '1500e-3'],
    ['1M', '1M'],
    ['1000k', '1M'],
    ['1000000', '1M'],
    ['1Gi', '1Gi'],
    ['1024Mi', '1Gi'],
    ['1536Mi', '1536Mi'],
    ['1.5Gi', '1536Mi'],
    ['0.5Gi', '512Mi'],
    ['65536Ki', '64Mi'],
    ['0.0625Gi', '64Mi'],
    ['67108864', '67108864'],
    ['128974848', '128974848'],
    ['129e6', '129e6'],
    ['123Mi', '123Mi'],
    ['1Ki', '1Ki'],
    ['1023', '1023'],
    ['0.5Ki', '512'],
    ['1.5Ki', '1536'],
    ['0.3Ki', '307200m'],
    ['100n', '100n'],
    ['0.0000000001', '1n'],
    ['+1', '1'],
    ['-1', '-1'],
    ['-0.5', '-500m'],
    ['.5', '500m'],
    ['1.', '1'],
  ])('%p → %p', (input, canonical) => {
    expect(canonicalQuantity(input)).toBe(canonical);
  });

  it('rounds resource lists up to thousandths (SetDefaults_ResourceList)', () => {
    expect(canonicalQuantity('0.0001', { milli: true })).toBe('1m');
    expect(canonicalQuantity('100u', { milli: true })).toBe('1m');
    expect(canonicalQuantity('1001u', { milli: true })).toBe('2m');
    expect(canonicalQuantity('0.0001')).toBe('100u');
    expect(canonicalQuantity('0', { milli: true })).toBe('0');
  });

  it('leaves what is not a quantity alone', () => {
    for (const v of ['abc', '1x', '', '.', '1.2.3', 'Mi', true, null, { a: 1 }]) {
      expect(canonicalQuantity(v)).toEqual(v);
    }
  });
});

const template = (container: Partial<k8s.V1Container>, podSpec: Partial<k8s.V1PodSpec> = {}, labels = { app: 'web' }): k8s.V1PodTemplateSpec => ({
  metadata: { labels },
  spec: { containers: [{ name: 'app', image: 'registry.example/app:1', ...container }], ...podSpec },
});

describe('normalizeTemplate: what the API server would store for a Deployment template', () => {
  const same = (a: k8s.V1PodTemplateSpec, b: k8s.V1PodTemplateSpec): boolean => JSON.stringify(normalizeTemplate(a)) === JSON.stringify(normalizeTemplate(b));

  it('canonicalises resource quantities (containers, init containers, pod-level, overhead, emptyDir, divisor)', () => {
    expect(
      same(
        template({ resources: { requests: { cpu: '500m', memory: '128Mi' }, limits: { cpu: '1' } } }),
        template({ resources: { requests: { cpu: 0.5 as unknown as string, memory: '131072Ki' }, limits: { cpu: '1000m' } } }),
      ),
    ).toBe(true);
    expect(
      same(
        template({}, { initContainers: [{ name: 'i', image: 'x:1', resources: { requests: { cpu: '0.25' } } }] }),
        template({}, { initContainers: [{ name: 'i', image: 'x:1', resources: { requests: { cpu: '250m' } } }] }),
      ),
    ).toBe(true);
    expect(
      same(
        template({}, { overhead: { cpu: '0.1' }, resources: { limits: { memory: '1Gi' } } }),
        template({}, { overhead: { cpu: '100m' }, resources: { limits: { memory: '1024Mi' } } }),
      ),
    ).toBe(true);
    expect(
      same(
        template({}, { volumes: [{ name: 'v', emptyDir: { sizeLimit: '1Gi' } }] }),
        template({}, { volumes: [{ name: 'v', emptyDir: { sizeLimit: '1073741824Ki' as string } }] }),
      ),
    ).toBe(false);
    expect(
      same(
        template({}, { volumes: [{ name: 'v', emptyDir: { sizeLimit: '0.5Gi' } }] }),
        template({}, { volumes: [{ name: 'v', emptyDir: { sizeLimit: '512Mi' } }] }),
      ),
    ).toBe(true);
    const env = (divisor: string): Partial<k8s.V1Container> => ({
      env: [{ name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor } } }],
    });
    expect(same(template(env('0.001')), template(env('1m')))).toBe(true);
    // A real change stays one.
    expect(same(template({ resources: { requests: { cpu: '500m' } } }), template({ resources: { requests: { cpu: '600m' } } }))).toBe(false);
  });

  it('applies the pod template defaults (SetDefaults_PodSpec, _Container, _Probe, _HTTPGetAction, volumes, ports)', () => {
    const bare = template(
      {
        ports: [{ containerPort: 8080 }],
        readinessProbe: { httpGet: { port: 8080 } },
        env: [{ name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
      },
      {
        volumes: [
          { name: 'cfg', configMap: { name: 'c' } },
          { name: 'scratch' },
          { name: 'token', projected: { sources: [{ serviceAccountToken: { path: 't' } }] } },
        ],
      },
    );
    const spelled = template(
      {
        imagePullPolicy: 'IfNotPresent',
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        ports: [{ containerPort: 8080, protocol: 'TCP', hostPort: 0 }],
        readinessProbe: { httpGet: { port: 8080, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
        env: [{ name: 'NODE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } }],
        resources: {},
        stdin: false,
        tty: false,
      },
      {
        dnsPolicy: 'ClusterFirst',
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 30,
        securityContext: {},
        hostNetwork: false,
        volumes: [
          { name: 'cfg', configMap: { name: 'c', defaultMode: 420 } },
          { name: 'scratch', emptyDir: {} },
          { name: 'token', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { path: 't', expirationSeconds: 3600 } }] } },
        ],
      },
    );
    expect(normalizeTemplate(spelled)).toEqual(normalizeTemplate(bare));
    expect(same({ ...bare, metadata: { ...bare.metadata, creationTimestamp: null as unknown as Date } }, bare)).toBe(true);
  });

  it('keeps real differences: values that differ from the defaults, pointer booleans, order of lists', () => {
    expect(same(template({ imagePullPolicy: 'Always' }), template({}))).toBe(false);
    expect(same(template({}, { terminationGracePeriodSeconds: 0 }), template({}))).toBe(false);
    expect(same(template({}, { automountServiceAccountToken: false }), template({}))).toBe(false);
    expect(
      same(
        template({
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
        }),
        template({
          env: [
            { name: 'B', value: '2' },
            { name: 'A', value: '1' },
          ],
        }),
      ),
    ).toBe(false);
    expect(same(template({ ports: [{ containerPort: 53, protocol: 'UDP' }] }), template({ ports: [{ containerPort: 53 }] }))).toBe(false);
    // schedulerName is not defaulted: unset means the podgroup-scheduler for a PodGroup.
    expect(same(template({}, { schedulerName: 'default-scheduler' }), template({}))).toBe(false);
  });

  it('defaults imagePullPolicy from the tag as ParseImageName does', () => {
    const policy = (image: string): unknown =>
      (normalizeTemplate(template({ image })) as { spec: { containers: { imagePullPolicy: string }[] } }).spec.containers[0]?.imagePullPolicy;
    expect(policy('nginx')).toBe('Always');
    expect(policy('nginx:latest')).toBe('Always');
    expect(policy('nginx:1.27')).toBe('IfNotPresent');
    expect(policy('registry.example:5000/app')).toBe('Always');
    expect(policy('registry.example:5000/app:2')).toBe('IfNotPresent');
    expect(policy('nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef')).toBe('IfNotPresent');
  });

  it('does not change its input', () => {
    const t = template({ resources: { requests: { cpu: '0.5' } } });
    const before = JSON.stringify(t);
    normalizeTemplate(t);
    expect(JSON.stringify(t)).toBe(before);
  });

  it('canonicalises sidecar resources too', () => {
    expect(normalizeSidecars({ logCollector: { enabled: true, resources: { requests: { cpu: '0.05' } } } })).toEqual({
      logCollector: { enabled: true, resources: { requests: { cpu: '50m' } } },
    });
    expect(normalizeSidecars(undefined)).toBeUndefined();
  });
});

describe('revisions compare templates semantically', () => {
  const pg = (t: k8s.V1PodTemplateSpec) => ({ metadata: { name: 'web', namespace: 'ns', uid: 'u1' }, spec: spec({ template: t }) });
  const written = template({ resources: { requests: { cpu: '500m', memory: '64Mi' } }, ports: [{ containerPort: 80 }] });
  const respelled = template(
    { resources: { requests: { cpu: '0.5', memory: '65536Ki' } }, ports: [{ containerPort: 80, protocol: 'TCP' }], imagePullPolicy: 'IfNotPresent' },
    { dnsPolicy: 'ClusterFirst' },
  );

  it('a respelled template is the same revision and hashes alike', () => {
    expect(sameContent({ template: written }, { template: respelled })).toBe(true);
    expect(contentHash({ template: written }, 0)).toBe(contentHash({ template: respelled }, 0));
    const first = decideUpdateRevision(pg(written), [], 0);
    expect(decideUpdateRevision(pg(respelled), [first.revision], 0)).toMatchObject({ kind: 'existing', hash: first.hash });
  });

  it('a revision stored before (hash of the template as written) is still found and keeps its hash', () => {
    const old = newRevision(pg(written), 'legacyhash', 1);
    expect(decideUpdateRevision(pg(respelled), [old], 0)).toMatchObject({ kind: 'existing', hash: 'legacyhash' });
  });
});
