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
    expect(() => revisionSidecars({ [REVISION_SIDECARS_ANNOTATION]: '[1]' })).toThrow(/sidecars must be an object/);
  });
});

describe('revisionSidecars: the annotation is checked field by field, not cast', () => {
  // A pod's creator can write the annotation by hand: before, each of these reached mutate as a
  // "Sidecars" and failed there with a TypeError (a 500 from the webhook) or was silently used.
  it.each([
    [{ gitSync: { ref: 'main' } }, 'sidecars.gitSync.repo is required'],
    [{ gitSync: { repo: 42 } }, 'sidecars.gitSync.repo must be a string'],
    [{ gitSync: { repo: 'https://example.com/r.git', containers: 'app' } }, 'sidecars.gitSync.containers must be a list of strings'],
    [{ gitSync: { repo: 'https://example.com/r.git', credentialsSecretRef: {} } }, 'sidecars.gitSync.credentialsSecretRef.name is required'],
    [{ gitSync: { repo: 'https://example.com/r.git', mode: 'sideways' } }, 'sidecars.gitSync.mode must be one of native, fallback'],
    [{ logCollector: { output: { type: 'forward', port: 70000 } } }, 'sidecars.logCollector.output.port must be a port number'],
    [{ logCollector: { resources: { limits: { memory: {} } } } }, 'sidecars.logCollector.resources.limits must map resource names to quantities'],
    [{ logCollector: { enabled: 'yes' } }, 'sidecars.logCollector.enabled must be true or false'],
    [{ logCollector: { command: ['sh'] } }, 'sidecars.logCollector.command is not a field of spec.sidecars'],
    [{ privileged: true }, 'sidecars.privileged is not a field of spec.sidecars'],
  ])('refuses %j', (value, message) => {
    const annotations = { [REVISION_SIDECARS_ANNOTATION]: JSON.stringify(value) };
    expect(() => revisionSidecars(annotations)).toThrow(InjectionError);
    expect(() => revisionSidecars(annotations)).toThrow(`${REVISION_SIDECARS_ANNOTATION}: ${message}`);
  });

  it('accepts everything spec.sidecars can hold', () => {
    const full = {
      logCollector: {
        enabled: true,
        containers: ['app'],
        path: '/var/log/app',
        files: '*.log',
        output: { type: 'forward', host: 'fluentd', port: 24224 },
        image: 'fb:1',
        resources: { requests: { cpu: '10m' }, limits: { memory: '64Mi' } },
      },
      gitSync: {
        repo: 'https://example.com/r.git',
        ref: 'main',
        period: '10s',
        root: '/git',
        link: 'current',
        mountPath: '/code',
        containers: ['app'],
        credentialsSecretRef: { name: 'creds' },
        username: 'bot',
        allowPlainHTTP: false,
        mode: 'native',
        image: 'gs:1',
        resources: { requests: { cpu: 1 } },
      },
    };
    expect(revisionSidecars({ [REVISION_SIDECARS_ANNOTATION]: JSON.stringify(full) })).toEqual(full);
  });
});
