// X.509 helpers: a CA, certificates it signs, and PEM encoding. Used by the webhook's
// self-managed TLS and by the local control plane's PKI (hack/cluster).
//
// node-forge only lays out the certificate; the RSA work is node:crypto's. Key generation
// (~0.3–0.5 s) and signing (forge's pure-JS RSA took ~150 ms) would otherwise hold the event
// loop the webhook and the extender answer on: the async functions run both in libuv's
// threadpool. The Sync ones are for tools (hack/, tests, benchmarks) that have no loop to keep.
import { generateKeyPair, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { promisify } from 'node:util';
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

interface RsaKeyPair {
  /** PKCS#1 PEM, as forge wrote it before: what the Secrets and files already hold. */
  privateKeyPem: string;
  publicKey: forge.pki.rsa.PublicKey;
}

const RSA_OPTIONS = {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
} as const;

const generateKeyPairAsync = promisify(generateKeyPair);

function rsaKeyPair(keys: { privateKey: string; publicKey: string }): RsaKeyPair {
  return { privateKeyPem: keys.privateKey, publicKey: forge.pki.publicKeyFromPem(keys.publicKey) };
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

function authorityTemplate(commonName: string, validForMs: number, publicKey: forge.pki.rsa.PublicKey): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
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
  return cert;
}

function leafTemplate(caCertPem: string, request: CertificateRequest, publicKey: forge.pki.rsa.PublicKey): forge.pki.Certificate {
  const caCert = forge.pki.certificateFromPem(caCertPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
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
  return cert;
}

// forge exports getTBSCertificate but its typings do not declare it.
const getTBSCertificate = (forge.pki as unknown as { getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate;

/** The DER of what gets signed (sha256WithRSAEncryption), kept on cert for certificateToPem. */
function toBeSigned(cert: forge.pki.Certificate): Buffer {
  cert.signatureOid = cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption ?? '1.2.840.113549.1.1.11';
  cert.tbsCertificate = getTBSCertificate(cert);
  return Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
}

function signed(cert: forge.pki.Certificate, signature: Buffer): string {
  cert.signature = signature.toString('binary');
  return forge.pki.certificateToPem(cert);
}

async function signAsyncPem(cert: forge.pki.Certificate, signerKeyPem: string): Promise<string> {
  const data = toBeSigned(cert);
  const signature = await new Promise<Buffer>((resolve, reject) => {
    sign('sha256', data, signerKeyPem, (err, sig) => (err === null ? resolve(sig) : reject(err)));
  });
  return signed(cert, signature);
}

function signSyncPem(cert: forge.pki.Certificate, signerKeyPem: string): string {
  return signed(cert, sign('sha256', toBeSigned(cert), signerKeyPem));
}

/** A self-signed CA; key generation and signing run off the event loop. */
export async function createCertificateAuthority(commonName: string, validForMs: number): Promise<PemKeyPair> {
  const keys = rsaKeyPair(await generateKeyPairAsync('rsa', RSA_OPTIONS));
  const certPem = await signAsyncPem(authorityTemplate(commonName, validForMs, keys.publicKey), keys.privateKeyPem);
  return { certPem, keyPem: keys.privateKeyPem };
}

/** A certificate signed by ca; key generation and signing run off the event loop. */
export async function issueCertificate(ca: PemKeyPair, request: CertificateRequest): Promise<PemKeyPair> {
  const keys = rsaKeyPair(await generateKeyPairAsync('rsa', RSA_OPTIONS));
  const certPem = await signAsyncPem(leafTemplate(ca.certPem, request, keys.publicKey), ca.keyPem);
  return { certPem, keyPem: keys.privateKeyPem };
}

/** createCertificateAuthority, blocking: for tools without an event loop to keep free. */
export function createCertificateAuthoritySync(commonName: string, validForMs: number): PemKeyPair {
  const keys = rsaKeyPair(generateKeyPairSync('rsa', RSA_OPTIONS));
  return { certPem: signSyncPem(authorityTemplate(commonName, validForMs, keys.publicKey), keys.privateKeyPem), keyPem: keys.privateKeyPem };
}

/** issueCertificate, blocking: for tools without an event loop to keep free. */
export function issueCertificateSync(ca: PemKeyPair, request: CertificateRequest): PemKeyPair {
  const keys = rsaKeyPair(generateKeyPairSync('rsa', RSA_OPTIONS));
  return { certPem: signSyncPem(leafTemplate(ca.certPem, request, keys.publicKey), ca.keyPem), keyPem: keys.privateKeyPem };
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
