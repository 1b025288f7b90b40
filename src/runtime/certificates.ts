// X.509 helpers: a CA, certificates it signs, and PEM encoding. Used by the webhook's
// self-managed TLS and by the local control plane's PKI (hack/cluster).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface PemKeyPair {
  certPem: string;
  keyPem: string;
}

export interface CertificateRequest {
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  /** serverAuth, clientAuth or both. */
  usages: Array<'server' | 'client'>;
  /** Lifetime from now. */
  validForMs: number;
  /** Default: an hour ago, which absorbs clock skew between machines. */
  notBefore?: Date;
}

const BACKDATE_MS = 60 * 60 * 1000;

// Native key generation: node-forge's pure-JS RSA keygen takes seconds.
function generateRsaKeyPair(): forge.pki.rsa.KeyPair {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey);
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function serialNumber(): string {
  // Positive 128-bit serial: clear the top bit so DER does not read it as negative.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

/** Valid from notBefore (default: backdated, for clock skew) until validForMs from now. */
function validity(cert: forge.pki.Certificate, notBefore: Date | undefined, validForMs: number): void {
  cert.validity.notBefore = notBefore ?? new Date(Date.now() - BACKDATE_MS);
  cert.validity.notAfter = new Date(Date.now() + validForMs);
}

export function createCertificateAuthority(commonName: string, validForMs: number): PemKeyPair {
  const keys = generateRsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, undefined, validForMs);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

export function issueCertificate(ca: PemKeyPair, request: CertificateRequest): PemKeyPair {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = generateRsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, request.notBefore, request.validForMs);
  const subject: forge.pki.CertificateField[] = [{ name: 'commonName', value: request.commonName }];
  for (const org of request.organizations ?? []) {
    subject.push({ name: 'organizationName', value: org });
  }
  cert.setSubject(subject);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [...(request.dnsNames ?? []).map((value) => ({ type: 2, value })), ...(request.ipAddresses ?? []).map((ip) => ({ type: 7, ip }))];
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    {
      name: 'extKeyUsage',
      serverAuth: request.usages.includes('server'),
      clientAuth: request.usages.includes('client'),
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ];
  if (altNames.length > 0) {
    extensions.push({ name: 'subjectAltName', altNames });
  }
  cert.setExtensions(extensions);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** An RSA key pair in PEM (PKCS#8 private, SPKI public), e.g. for service-account token signing. */
export function createSigningKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** notAfter of the first certificate in a PEM bundle. */
export function certificateNotAfter(certPem: string): Date {
  return forge.pki.certificateFromPem(certPem).validity.notAfter;
}
