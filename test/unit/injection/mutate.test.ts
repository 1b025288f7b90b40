import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import fastJsonPatch from 'fast-json-patch';
import fc from 'fast-check';
import { InjectionError, resolveRequest, STATUS_ANNOTATION, type RequestInput } from '../../../src/injection/config.js';
import { mutate, podShapeError, type InjectorSettings } from '../../../src/injection/mutate.js';

const settings: InjectorSettings = { logCollectorImage: 'fluent-bit:test', gitSyncImage: 'git-sync:test', nativeSidecars: true };
const REPO = 'https://example.com/site.git';

const pod = (annotations: Record<string, string> = {}, extra: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod => ({
  metadata: { name: 'p', namespace: 'ns', annotations },
  spec: {
    containers: [
      { name: 'app', image: 'app:1' },
      { name: 'worker', image: 'w:1' },
    ],
    ...extra,
  },
});

function inject(p: k8s.V1Pod, input: Partial<RequestInput> = {}, s: InjectorSettings = settings): ReturnType<typeof mutate> | undefined {
  const request = resolveRequest({ annotations: p.metadata?.annotations ?? {}, namespaceOptIn: false, podGroupSidecars: undefined, ...input });
  return request === undefined ? undefined : mutate(p, request, s);
}

describe('resolveRequest', () => {
  it('injects nothing without an opt-in, and the opt-out annotation wins', () => {
    expect(resolveRequest({ annotations: {}, namespaceOptIn: false, podGroupSidecars: undefined })).toBeUndefined();
    expect(
      resolveRequest({ annotations: { 'sidecars.podgroup.dev/inject': 'false' }, namespaceOptIn: true, podGroupSidecars: { logCollector: {} } }),
    ).toBeUndefined();
  });

  it('takes PodGroup spec.sidecars, overridden field by field by annotations', () => {
    const r = resolveRequest({
      annotations: { 'sidecars.podgroup.dev/git-ref': 'v2' },
      namespaceOptIn: false,
      podGroupSidecars: { gitSync: { repo: REPO, ref: 'main', mode: 'fallback' } },
    });
    expect(r?.gitSync).toMatchObject({ repo: REPO, ref: 'v2', period: '10s', root: '/git', link: 'current', mountPath: '/git' });
    expect(r?.logCollector).toBeUndefined();
    expect(r?.mode).toBe('fallback');
  });

  it.each([
    [{ 'sidecars.podgroup.dev/inject': 'metrics' }, 'sidecars.podgroup.dev/inject: unknown sidecar "metrics"; use "log-collector", "git-sync"'],
    [{ 'sidecars.podgroup.dev/inject': 'git-sync' }, 'sidecars.podgroup.dev/git-repo: git-sync needs a repository'],
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': 'not a url' },
      'sidecars.podgroup.dev/git-repo: "not a url" is not a repository URL',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': REPO, 'sidecars.podgroup.dev/git-period': '10 s' },
      'sidecars.podgroup.dev/git-period: "10 s" is not a duration',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': REPO, 'sidecars.podgroup.dev/git-link': 'a/b' },
      'sidecars.podgroup.dev/git-link: "a/b" is not a link name',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': REPO, 'sidecars.podgroup.dev/git-root': 'git' },
      'sidecars.podgroup.dev/git-root: "git" is not an absolute path',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'log-collector', 'sidecars.podgroup.dev/log-path': 'logs' },
      'sidecars.podgroup.dev/log-path: "logs" is not an absolute path',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'log-collector', 'sidecars.podgroup.dev/log-output': 'kafka://x' },
      'sidecars.podgroup.dev/log-output: "kafka://x" is not an output',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'log-collector', 'sidecars.podgroup.dev/log-files': 'a/b.log' },
      'sidecars.podgroup.dev/log-files: "a/b.log" is not a file glob',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'log-collector', 'sidecars.podgroup.dev/containers': 'App!' },
      'sidecars.podgroup.dev/containers: "App!" is not a container name',
    ],
    [{ 'sidecars.podgroup.dev/inject': 'log-collector', 'sidecars.podgroup.dev/mode': 'sideways' }, 'sidecars.podgroup.dev/mode: "sideways" is not a mode'],
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': 'http://example.com/r.git', 'sidecars.podgroup.dev/git-secret': 'creds' },
      'sidecars.podgroup.dev/git-repo: "http://example.com/r.git" would send the credentials of sidecars.podgroup.dev/git-secret in clear text; use an https:// URL with credentials',
    ],
    // Credentials in the URL would be stored in the pod spec for every reader of pods to see.
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': 'https://bot:ghp_secret@github.com/org/r.git' },
      'sidecars.podgroup.dev/git-repo: the URL carries credentials (user:token@)',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': 'https://ghp_secret@github.com/org/r.git' },
      'the URL carries credentials (user:token@)',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': 'ssh://git:hunter2@example.com/r.git' },
      'the URL carries credentials (user:token@)',
    ],
    // Plain http only with the explicit opt-in, and never with credentials.
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': 'http://example.com/r.git' },
      'sidecars.podgroup.dev/git-repo: "http://example.com/r.git" is plain http',
    ],
    [
      {
        'sidecars.podgroup.dev/inject': 'git-sync',
        'sidecars.podgroup.dev/git-repo': 'http://example.com/r.git',
        'sidecars.podgroup.dev/git-allow-plain-http': 'true',
        'sidecars.podgroup.dev/git-secret': 'creds',
      },
      'would send the credentials of sidecars.podgroup.dev/git-secret in clear text',
    ],
    [
      {
        'sidecars.podgroup.dev/inject': 'git-sync',
        'sidecars.podgroup.dev/git-repo': 'http://example.com/r.git',
        'sidecars.podgroup.dev/git-allow-plain-http': 'yes',
      },
      'sidecars.podgroup.dev/git-allow-plain-http: "yes" is not a boolean',
    ],
    [
      { 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': REPO, 'sidecars.podgroup.dev/git-username': 'a b' },
      'sidecars.podgroup.dev/git-username: "a b" is not a user name',
    ],
  ])('rejects %j', (annotations, message) => {
    expect(() => resolveRequest({ annotations, namespaceOptIn: false, podGroupSidecars: undefined })).toThrow(InjectionError);
    expect(() => resolveRequest({ annotations, namespaceOptIn: false, podGroupSidecars: undefined })).toThrow(message);
  });
});

describe('mutate', () => {
  it('adds a native log collector, its volume and mounts, and a status annotation; the patch reproduces the pod', () => {
    const input = pod();
    const r = inject(input, { namespaceOptIn: true });
    expect(r?.injected).toEqual(['log-collector']);
    const out = r?.pod as k8s.V1Pod;
    expect(out.spec?.initContainers?.[0]).toMatchObject({
      name: 'log-collector',
      image: 'fluent-bit:test',
      restartPolicy: 'Always',
      volumeMounts: [{ name: 'podgroup-logs', mountPath: '/var/log/app', readOnly: true }],
    });
    expect(out.spec?.volumes).toEqual([{ name: 'podgroup-logs', emptyDir: {} }]);
    expect(out.spec?.containers.map((c) => c.volumeMounts)).toEqual([
      [{ name: 'podgroup-logs', mountPath: '/var/log/app' }],
      [{ name: 'podgroup-logs', mountPath: '/var/log/app' }],
    ]);
    expect(out.metadata?.annotations?.[STATUS_ANNOTATION]).toBe('{"injected":["log-collector"],"mode":"native"}');
    const applied = fastJsonPatch.applyPatch(structuredClone(input), r?.patch ?? []).newDocument;
    expect(applied).toEqual(out);
  });

  it('adds native git-sync with a startup probe, a read-only code mount, fsGroup, and credentials from a Secret', () => {
    const r = inject(
      pod({
        'sidecars.podgroup.dev/inject': 'git-sync',
        'sidecars.podgroup.dev/git-repo': REPO,
        'sidecars.podgroup.dev/git-secret': 'creds',
        'sidecars.podgroup.dev/containers': 'app',
      }),
    );
    const out = r?.pod as k8s.V1Pod;
    const git = out.spec?.initContainers?.[0];
    expect(git).toMatchObject({ name: 'git-sync', restartPolicy: 'Always', startupProbe: { httpGet: { path: '/', port: 8742 } } });
    expect(git?.args).toEqual([
      `--repo=${REPO}`,
      '--ref=HEAD',
      '--period=10s',
      '--root=/git',
      '--link=current',
      '--group-write',
      '--username=git',
      '--password-file=/etc/git-secret/password',
      '--http-bind=:8742',
    ]);
    // The password is a file of the mounted Secret: no Secret reaches an environment variable.
    expect(git?.env).toEqual([
      { name: 'HOME', value: '/tmp' },
      { name: 'TMPDIR', value: '/tmp' },
    ]);
    expect(git?.volumeMounts).toContainEqual({ name: 'podgroup-git-secret', mountPath: '/etc/git-secret', readOnly: true });
    expect(out.spec?.volumes).toContainEqual({ name: 'podgroup-git-secret', secret: { secretName: 'creds', defaultMode: 0o440 } });
    expect(out.spec?.containers[0]?.volumeMounts).toEqual([{ name: 'podgroup-code', mountPath: '/git', readOnly: true }]);
    expect(out.spec?.containers[1]?.volumeMounts).toBeUndefined();
    expect(out.spec?.securityContext?.fsGroup).toBe(65533);
    expect(out.spec?.securityContext?.fsGroupChangePolicy).toBe('OnRootMismatch');
  });

  it('sends the user name of git-username (or spec.sidecars.gitSync.username) with the password file', () => {
    const annotated = inject(
      pod({
        'sidecars.podgroup.dev/inject': 'git-sync',
        'sidecars.podgroup.dev/git-repo': REPO,
        'sidecars.podgroup.dev/git-secret': 'creds',
        'sidecars.podgroup.dev/git-username': 'deploy-bot',
      }),
    );
    expect(annotated?.pod.spec?.initContainers?.[0]?.args).toContain('--username=deploy-bot');
    const fromSpec = inject(pod({ 'sidecars.podgroup.dev/inject': 'git-sync' }), {
      podGroupSidecars: { gitSync: { repo: REPO, username: 'ci', credentialsSecretRef: { name: 'creds' } } },
    });
    expect(fromSpec?.pod.spec?.initContainers?.[0]?.args).toContain('--username=ci');
  });

  it("keeps a pod's own fsGroupChangePolicy, and allows http:// repositories without credentials when opted in", () => {
    const own = pod({
      'sidecars.podgroup.dev/inject': 'git-sync',
      'sidecars.podgroup.dev/git-repo': 'http://example.com/r.git',
      'sidecars.podgroup.dev/git-allow-plain-http': 'true',
    });
    own.spec = { ...own.spec, containers: own.spec?.containers ?? [], securityContext: { fsGroupChangePolicy: 'Always' } };
    expect(inject(own)?.pod.spec?.securityContext).toMatchObject({ fsGroup: 65533, fsGroupChangePolicy: 'Always' });
  });

  it('gives git-sync (native, and the fallback init and regular containers) a scratch emptyDir at /tmp for its HOME and TMPDIR under the read-only root', () => {
    for (const mode of ['native', 'fallback']) {
      const out = inject(pod({ 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': REPO, 'sidecars.podgroup.dev/mode': mode }))
        ?.pod as k8s.V1Pod;
      expect(out.spec?.volumes).toEqual([
        { name: 'podgroup-code', emptyDir: {} },
        { name: 'podgroup-git-tmp', emptyDir: {} },
      ]);
      const gitContainers = [...(out.spec?.initContainers ?? []), ...(out.spec?.containers ?? [])].filter((c) => c.name.startsWith('git-sync'));
      expect(gitContainers).toHaveLength(mode === 'native' ? 1 : 2);
      for (const c of gitContainers) {
        expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
        expect(c.volumeMounts).toEqual([
          { name: 'podgroup-code', mountPath: '/git' },
          { name: 'podgroup-git-tmp', mountPath: '/tmp' },
        ]);
        expect(c.env).toEqual([
          { name: 'HOME', value: '/tmp' },
          { name: 'TMPDIR', value: '/tmp' },
        ]);
      }
    }
    expect(() =>
      inject(pod({ 'sidecars.podgroup.dev/inject': 'git-sync', 'sidecars.podgroup.dev/git-repo': REPO, 'sidecars.podgroup.dev/git-root': '/tmp' })),
    ).toThrow("sidecars.podgroup.dev/git-root: /tmp is git-sync's scratch space; use another path such as /git");
  });

  it('makes every injected container pass the restricted Pod Security level on its own (seccomp, non-root with a fixed UID, drop ALL, no escalation)', () => {
    for (const mode of ['native', 'fallback']) {
      const out = inject(
        pod({ 'sidecars.podgroup.dev/inject': 'git-sync,log-collector', 'sidecars.podgroup.dev/git-repo': REPO, 'sidecars.podgroup.dev/mode': mode }),
      )?.pod as k8s.V1Pod;
      const injected = [...(out.spec?.initContainers ?? []), ...(out.spec?.containers ?? [])].filter((c) => !['app', 'worker'].includes(c.name));
      expect(injected.map((c) => c.name).sort()).toEqual(mode === 'native' ? ['git-sync', 'log-collector'] : ['git-sync', 'git-sync-init', 'log-collector']);
      for (const c of injected) {
        const uid = c.name === 'log-collector' ? 65532 : 65533;
        expect(c.securityContext).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
          runAsNonRoot: true,
          runAsUser: uid,
          runAsGroup: uid,
          seccompProfile: { type: 'RuntimeDefault' },
        });
      }
    }
  });

  it('uses an ssh key Secret volume for ssh repositories', () => {
    const out = inject(
      pod({
        'sidecars.podgroup.dev/inject': 'git-sync',
        'sidecars.podgroup.dev/git-repo': 'git@github.com:org/repo.git',
        'sidecars.podgroup.dev/git-secret': 'deploy-key',
      }),
    )?.pod;
    expect(out?.spec?.volumes).toContainEqual({ name: 'podgroup-git-secret', secret: { secretName: 'deploy-key', defaultMode: 0o440 } });
    expect(out?.spec?.initContainers?.[0]?.args).toContain('--ssh-key-file=/etc/git-secret/ssh');
  });

  it('falls back to an init container with --one-time plus regular sidecars', () => {
    const r = inject(
      pod({ 'sidecars.podgroup.dev/inject': 'git-sync,log-collector', 'sidecars.podgroup.dev/git-repo': REPO, 'sidecars.podgroup.dev/mode': 'fallback' }),
    );
    const out = r?.pod as k8s.V1Pod;
    expect(out.spec?.initContainers?.map((c) => c.name)).toEqual(['git-sync-init']);
    expect(out.spec?.initContainers?.[0]?.args).toContain('--one-time');
    expect(out.spec?.containers.map((c) => c.name)).toEqual(['app', 'worker', 'git-sync', 'log-collector']);
    expect(out.spec?.containers.find((c) => c.name === 'log-collector')?.restartPolicy).toBeUndefined();
    expect(r?.mode).toBe('fallback');
  });

  it('uses regular containers on clusters without native sidecars, and refuses an explicit native request there', () => {
    const old = { ...settings, nativeSidecars: false };
    expect(inject(pod(), { namespaceOptIn: true }, old)?.pod.spec?.containers.map((c) => c.name)).toEqual(['app', 'worker', 'log-collector']);
    expect(() => inject(pod({ 'sidecars.podgroup.dev/inject': 'log-collector', 'sidecars.podgroup.dev/mode': 'native' }), {}, old)).toThrow(
      'does not support native sidecars',
    );
  });

  it('is idempotent: re-invocation injects nothing more', () => {
    const first = inject(pod(), { namespaceOptIn: true })?.pod as k8s.V1Pod;
    const again = inject(first, { namespaceOptIn: true });
    expect(again?.patch).toEqual([]);
    expect(again?.pod).toEqual(first);
  });

  it('adds only the missing sidecar when one is already there', () => {
    const first = inject(pod(), { namespaceOptIn: true })?.pod as k8s.V1Pod;
    first.metadata = { ...first.metadata, annotations: { ...first.metadata?.annotations, 'sidecars.podgroup.dev/git-repo': REPO } };
    const second = inject(first, { namespaceOptIn: true });
    expect(second?.injected).toEqual(['git-sync', 'log-collector']);
    expect(second?.pod.spec?.initContainers?.filter((c) => c.name === 'log-collector')).toHaveLength(1);
  });

  it.each([
    [
      'an unknown container',
      pod({ 'sidecars.podgroup.dev/inject': 'log-collector', 'sidecars.podgroup.dev/containers': 'web' }),
      'sidecars.podgroup.dev/containers: the pod has no container "web"; name one of: app, worker',
    ],
    [
      'a volume name clash',
      pod({ 'sidecars.podgroup.dev/inject': 'log-collector' }, { volumes: [{ name: 'podgroup-logs', emptyDir: {} }] }),
      'the pod already has a volume named podgroup-logs',
    ],
    [
      'a mount path clash',
      {
        ...pod({ 'sidecars.podgroup.dev/inject': 'log-collector' }),
        spec: { containers: [{ name: 'app', volumeMounts: [{ name: 'x', mountPath: '/var/log' }] }] },
      },
      'sidecars.podgroup.dev/log-path: /var/log/app clashes with the mount /var/log in container app; choose another path',
    ],
    [
      'code and logs on one path',
      pod({
        'sidecars.podgroup.dev/inject': 'log-collector,git-sync',
        'sidecars.podgroup.dev/git-repo': REPO,
        'sidecars.podgroup.dev/log-path': '/data',
        'sidecars.podgroup.dev/git-mount-path': '/data',
      }),
      'is also the log path',
    ],
  ])('denies %s and changes nothing', (_name, input, message) => {
    const before = structuredClone(input);
    expect(() => inject(input)).toThrow(message);
    expect(input).toEqual(before);
  });
});

describe('podShapeError', () => {
  it.each([
    ['a string', '', 'must be an object'],
    ['spec as a string', { spec: '' }, 'spec must be an object'],
    ['containers as an object', { spec: { containers: {} } }, 'spec.containers must be a list'],
    ['a spec without containers', { spec: { volumes: [] } }, 'spec.containers must be a list'],
    ['a null container', { spec: { containers: [null] } }, 'spec.containers[0] must be an object'],
    ['a container without a name', { spec: { containers: [{ image: 'x' }] } }, 'spec.containers[0].name must be a string'],
    [
      'volumeMounts as a string',
      { spec: { containers: [], initContainers: [{ name: 'a', volumeMounts: 'x' }] } },
      'spec.initContainers[0].volumeMounts must be a list',
    ],
    [
      'a mount without a path',
      { spec: { containers: [{ name: 'a', volumeMounts: [{ name: 'v' }] }] } },
      'spec.containers[0].volumeMounts[0].mountPath must be a string',
    ],
    ['a numeric annotation', { metadata: { annotations: { a: 1 } } }, 'metadata.annotations must map strings to strings'],
    ['ownerReferences as a string', { metadata: { ownerReferences: 'x' } }, 'metadata.ownerReferences must be a list'],
  ])('names what is wrong with %s', (_name, input, message) => {
    expect(podShapeError(input)).toBe(message);
  });

  it('accepts a Pod', () => {
    expect(podShapeError(pod({ 'sidecars.podgroup.dev/inject': 'log-collector' }, { volumes: [{ name: 'v', emptyDir: {} }] }))).toBeUndefined();
  });

  // Any JSON where a Pod's fields are: either the shape check names the problem, or injection
  // succeeds or is denied with an InjectionError; never a TypeError (a 500 from the webhook).
  it('leaves no malformed pod for mutate to crash on', () => {
    const anyOr = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof(arb, fc.jsonValue());
    const mount = fc.record(
      { name: anyOr(fc.constantFrom('podgroup-logs', 'v')), mountPath: anyOr(fc.constantFrom('/var/log/app', '/var/log', '/git', '/x')) },
      { requiredKeys: [] },
    );
    const container = fc.record(
      {
        name: anyOr(fc.constantFrom('app', 'worker', 'log-collector', 'git-sync')),
        volumeMounts: anyOr(fc.array(mount, { maxLength: 2 })),
        ports: anyOr(fc.array(fc.record({ containerPort: anyOr(fc.constantFrom(80, 2020)) }), { maxLength: 2 })),
      },
      { requiredKeys: [] },
    );
    const annotations = fc.dictionary(
      fc.constantFrom('inject', 'containers', 'mode', 'log-path', 'git-repo', 'git-mount-path', 'git-secret').map((k) => `sidecars.podgroup.dev/${k}`),
      anyOr(fc.constantFrom('log-collector', 'git-sync', 'log-collector,git-sync', 'app', 'native', 'fallback', '/data', REPO, 'creds')),
    );
    const podLike = fc.record(
      {
        metadata: anyOr(
          fc.record(
            { annotations: anyOr(annotations), ownerReferences: anyOr(fc.array(fc.record({ controller: fc.boolean() }), { maxLength: 1 })) },
            { requiredKeys: [] },
          ),
        ),
        spec: anyOr(
          fc.record(
            {
              containers: anyOr(fc.array(container, { maxLength: 3 })),
              initContainers: anyOr(fc.array(container, { maxLength: 2 })),
              volumes: anyOr(fc.array(fc.record({ name: anyOr(fc.constantFrom('podgroup-logs', 'podgroup-code', 'v')) }), { maxLength: 2 })),
              securityContext: anyOr(fc.record({ fsGroup: fc.integer() })),
            },
            { requiredKeys: [] },
          ),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(podLike, fc.boolean(), (candidate, nativeSidecars) => {
        if (podShapeError(candidate) !== undefined) {
          return;
        }
        const p = candidate as k8s.V1Pod;
        try {
          inject(p, { namespaceOptIn: true }, { ...settings, nativeSidecars });
        } catch (err) {
          if (!(err instanceof InjectionError)) {
            throw err;
          }
        }
      }),
      { numRuns: 5000 },
    );
  });
});
