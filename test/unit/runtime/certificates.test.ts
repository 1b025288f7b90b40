import { describe, expect, it } from '@jest/globals';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import {
  createCertificateAuthority,
  createCertificateAuthoritySync,
  issueCertificate,
  issueCertificateSync,
  type CertificateRequest,
  type PemKeyPair,
} from '../../../src/runtime/certificates.js';

const hour = 3_600_000;
const serving: CertificateRequest = {
  commonName: 'svc.ns.svc',
  organizations: ['example'],
  dnsNames: ['svc.ns.svc', 'localhost'],
  ipAddresses: ['127.0.0.1'],
  usages: ['server'],
  validForMs: hour,
};

function expectIssuedBy(leaf: PemKeyPair, ca: PemKeyPair): X509Certificate {
  const caCert = new X509Certificate(ca.certPem);
  const cert = new X509Certificate(leaf.certPem);
  expect(caCert.ca).toBe(true);
  expect(caCert.verify(caCert.publicKey)).toBe(true);
  expect(cert.ca).toBe(false);
  expect(cert.checkIssued(caCert)).toBe(true);
  expect(cert.verify(caCert.publicKey)).toBe(true);
  expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
  // PKCS#1, as the Secrets and files written before hold.
  expect(leaf.keyPem).toContain('-----BEGIN RSA PRIVATE KEY-----');
  return cert;
}

describe('certificates', () => {
  it('issues a CA and a serving certificate off the event loop', async () => {
    // The loop keeps turning while the keys are generated and signed in the threadpool.
    let turns = 0;
    let turning = true;
    const turn = (): void => {
      turns += 1;
      if (turning) {
        setImmediate(turn);
      }
    };
    setImmediate(turn);
    const ca = await createCertificateAuthority('test-ca', hour);
    const leaf = await issueCertificate(ca, serving);
    turning = false;
    expect(turns).toBeGreaterThan(1);

    const cert = expectIssuedBy(leaf, ca);
    expect(cert.subject).toContain('CN=svc.ns.svc');
    expect(cert.subject).toContain('O=example');
    expect(cert.subjectAltName).toBe('DNS:svc.ns.svc, DNS:localhost, IP Address:127.0.0.1');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now());
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(Date.now());
  });

  it('serves TLS that a client trusting only the CA accepts', async () => {
    const ca = await createCertificateAuthority('test-ca', hour);
    const leaf = await issueCertificate(ca, serving);
    const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const authorized = await new Promise<boolean>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'svc.ns.svc' }, () => {
          resolve(socket.authorized);
          socket.end();
        });
        socket.on('error', reject);
      });
      expect(authorized).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('issues the same certificates synchronously, for tools', () => {
    const ca = createCertificateAuthoritySync('tool-ca', hour);
    const client = issueCertificateSync(ca, { commonName: 'admin', usages: ['client'], validForMs: hour });
    const cert = expectIssuedBy(client, ca);
    expect(cert.subjectAltName).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });
});
