import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../../../src/runtime/logging.js';
import { leafIsCurrent, SecretCertificateStore, type SecretClient, type SecretObject } from '../../../src/runtime/tls-secrets.js';

const conflict = (): k8s.ApiException<string> => new k8s.ApiException(409, 'Conflict', JSON.stringify({ reason: 'Conflict' }), {});
const notFound = (): k8s.ApiException<string> => new k8s.ApiException(404, 'NotFound', JSON.stringify({ reason: 'NotFound' }), {});

/** An in-memory Secret API with resourceVersion conflicts, recording every write. */
function fakeSecrets(): SecretClient & { store: Map<string, SecretObject>; writes: string[] } {
  const store = new Map<string, SecretObject>();
  const writes: string[] = [];
  let rv = 0;
  return {
    store,
    writes,
    async readNamespacedSecret({ name }) {
      const s = store.get(name);
      if (s === undefined) {
        throw notFound();
      }
      return structuredClone(s);
    },
    async createNamespacedSecret({ body }) {
      const name = body.metadata?.name ?? '';
      if (store.has(name)) {
        throw conflict();
      }
      writes.push(`create ${name}`);
      store.set(name, { ...body, metadata: { ...body.metadata, resourceVersion: String((rv += 1)) } });
      return body;
    },
    async replaceNamespacedSecret({ name, body }) {
      if (store.get(name)?.metadata?.resourceVersion !== body.metadata?.resourceVersion) {
        throw conflict();
      }
      writes.push(`replace ${name}`);
      store.set(name, { ...body, metadata: { ...body.metadata, resourceVersion: String((rv += 1)) } });
      return body;
    },
  };
}

const day = 24 * 3600 * 1000;
const spec = {
  secretName: 'serving',
  commonName: 'svc.ns.svc',
  dnsNames: ['svc.ns.svc'],
  ipAddresses: ['127.0.0.1'],
  usages: ['server' as const],
  validForMs: 90 * day,
};
const decode = (s: SecretObject | undefined, key: string): string | undefined =>
  s?.data?.[key] === undefined ? undefined : Buffer.from(s.data[key] ?? '', 'base64').toString();

describe('SecretCertificateStore', () => {
  it('keeps the CA key in the CA Secret only, and reuses a current certificate', async () => {
    const secrets = fakeSecrets();
    let now = Date.now();
    const store = new SecretCertificateStore(secrets, {
      namespace: 'ns',
      caSecretName: 'ca',
      caCommonName: 'test-ca',
      caValidityMs: 365 * day,
      log: createLogger({ silent: true }),
      now: () => now,
    });
    const first = await store.certificate(spec);
    expect(Object.keys(secrets.store.get('ca')?.data ?? {}).sort()).toEqual(['ca.crt', 'ca.key']);
    expect(Object.keys(secrets.store.get('serving')?.data ?? {}).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(secrets.store.get('serving')?.type).toBe('kubernetes.io/tls');
    expect(decode(secrets.store.get('serving'), 'ca.crt')).toBe(first.caPem);
    expect(await store.certificate(spec)).toEqual(first);
    expect(secrets.writes).toEqual(['create ca', 'create serving']);

    // Past 2/3 of its life: renewed under the same CA.
    now += 61 * day;
    const renewed = await store.certificate(spec);
    expect(renewed.certPem).not.toBe(first.certPem);
    expect(renewed.caPem).toBe(first.caPem);
    expect(secrets.writes).toEqual(['create ca', 'create serving', 'replace serving']);
  });

  it('re-issues when the names change or the CA was replaced', async () => {
    const secrets = fakeSecrets();
    const store = new SecretCertificateStore(secrets, {
      namespace: 'ns',
      caSecretName: 'ca',
      caCommonName: 'test-ca',
      caValidityMs: 365 * day,
      log: createLogger({ silent: true }),
    });
    const first = await store.certificate(spec);
    const other = await store.certificate({ ...spec, dnsNames: ['other.ns.svc'] });
    expect(other.certPem).not.toBe(first.certPem);
    secrets.store.delete('ca');
    const underNewCa = await store.certificate({ ...spec, dnsNames: ['other.ns.svc'] });
    expect(underNewCa.caPem).not.toBe(first.caPem);
    expect(leafIsCurrent(underNewCa, first.caPem, { ...spec, dnsNames: ['other.ns.svc'] }, Date.now())).toBe(false);
    expect(leafIsCurrent(underNewCa, underNewCa.caPem, { ...spec, dnsNames: ['other.ns.svc'] }, Date.now())).toBe(true);
  });

  it('lets the first of two racing replicas win; the other uses its certificate', async () => {
    const secrets = fakeSecrets();
    const log = createLogger({ silent: true });
    const a = new SecretCertificateStore(secrets, { namespace: 'ns', caSecretName: 'ca', caCommonName: 'test-ca', caValidityMs: 365 * day, log });
    const b = new SecretCertificateStore(secrets, { namespace: 'ns', caSecretName: 'ca', caCommonName: 'test-ca', caValidityMs: 365 * day, log });
    const [x, y] = await Promise.all([a.certificate(spec), b.certificate(spec)]);
    expect(x.caPem).toBe(y.caPem);
    expect(x.certPem).toBe(y.certPem);
    expect(secrets.writes.filter((w) => w === 'create ca')).toHaveLength(1);
  });
});

describe('SecretCertificateStore with Secrets created empty by the installer', () => {
  it('fills them with update only (no create), keeping their type', async () => {
    const secrets = fakeSecrets();
    for (const name of ['ca', 'serving']) {
      secrets.store.set(name, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'ns', resourceVersion: '0' }, type: 'Opaque' });
    }
    const store = new SecretCertificateStore(secrets, {
      namespace: 'ns',
      caSecretName: 'ca',
      caCommonName: 'test-ca',
      caValidityMs: 365 * day,
      log: createLogger({ silent: true }),
    });
    const issued = await store.certificate(spec);
    expect(secrets.writes).toEqual(['replace ca', 'replace serving']);
    expect(secrets.store.get('serving')?.type).toBe('Opaque');
    expect(decode(secrets.store.get('serving'), 'tls.crt')).toBe(issued.certPem);
  });
});
