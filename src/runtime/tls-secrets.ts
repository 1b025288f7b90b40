// Self-managed PKI in Secrets, without cert-manager. The CA's key lives in a Secret of its own
// (type Opaque: ca.crt, ca.key) that only the manager reads; every certificate it issues goes
// into a separate kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) holding no CA key, so a
// component that mounts its certificate (the scheduler its client certificate) never holds the
// means to mint more. Replicas share the Secrets; a write race is settled by optimistic
// concurrency (the loser re-reads). A certificate is re-issued when it passed 2/3 of its life,
// was signed by another CA, or its names differ from what is wanted.
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { createCertificateAuthority, issueCertificate, type CertificateRequest, type PemKeyPair } from './certificates.js';
import { errorLogFields, isConflict, isNotFound } from './kube-client.js';
import type { Logger } from './logging.js';

/** The Secret operations the store needs (CoreV1Api satisfies it; tests pass a recording fake). */
export interface SecretClient {
  readNamespacedSecret(args: { name: string; namespace: string }): Promise<SecretObject>;
  createNamespacedSecret(args: { namespace: string; body: SecretObject }): Promise<SecretObject>;
  replaceNamespacedSecret(args: { name: string; namespace: string; body: SecretObject }): Promise<SecretObject>;
}

export interface SecretObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

export interface IssuedCertificate {
  /** The issuing CA's certificate: what a peer verifies this certificate against. */
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface LeafSpec extends Omit<CertificateRequest, 'notBefore'> {
  secretName: string;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

/** Whether `cert` is still good for `spec` under `caPem` at `now` (pure; exported for tests). */
export function leafIsCurrent(
  cert: IssuedCertificate,
  caPem: string,
  spec: Pick<LeafSpec, 'commonName' | 'dnsNames' | 'ipAddresses' | 'validForMs'>,
  now: number,
): boolean {
  let parsed: forge.pki.Certificate;
  try {
    // node:crypto checks the signature natively (forge's RSA in JS took ~10 ms per check).
    const leaf = new X509Certificate(cert.certPem);
    const ca = new X509Certificate(caPem);
    if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) {
      return false;
    }
    parsed = forge.pki.certificateFromPem(cert.certPem);
  } catch {
    return false;
  }
  const notAfter = parsed.validity.notAfter.getTime();
  if (now >= notAfter - spec.validForMs / 3) {
    return false;
  }
  const cn = parsed.subject.getField('CN') as { value?: string } | null;
  if (cn?.value !== spec.commonName) {
    return false;
  }
  const ext = parsed.getExtension('subjectAltName') as { altNames?: Array<{ type: number; value?: string; ip?: string }> } | undefined;
  const names = (ext?.altNames ?? []).filter((n) => n.type === 2).map((n) => n.value ?? '');
  const ips = (ext?.altNames ?? []).filter((n) => n.type === 7).map((n) => n.ip ?? '');
  const same = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);
  return same(names, spec.dnsNames ?? []) && same(ips, spec.ipAddresses ?? []);
}

export class SecretCertificateStore {
  constructor(
    private readonly secrets: SecretClient,
    private readonly options: { namespace: string; caSecretName: string; caCommonName: string; caValidityMs: number; log: Logger; now?: () => number },
  ) {}

  get namespace(): string {
    return this.options.namespace;
  }

  /** The CA (created on first use). */
  async authority(): Promise<PemKeyPair> {
    const { namespace, caSecretName: name } = this.options;
    const existing = await this.read(name);
    const certPem = unb64(existing?.data?.['ca.crt']);
    const keyPem = unb64(existing?.data?.['ca.key']);
    if (certPem !== undefined && keyPem !== undefined) {
      return { certPem, keyPem };
    }
    const ca = await createCertificateAuthority(this.options.caCommonName, this.options.caValidityMs);
    const body: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, resourceVersion: existing?.metadata?.resourceVersion },
      type: 'Opaque',
      data: { 'ca.crt': b64(ca.certPem), 'ca.key': b64(ca.keyPem) },
    };
    if (await this.write(existing, body)) {
      this.options.log.info('created a certificate authority', { secret: `${namespace}/${name}` });
      return ca;
    }
    return this.authority();
  }

  /** The certificate in spec.secretName, issued (again) by the CA when it is not current. */
  async certificate(spec: LeafSpec, options: { force?: boolean } = {}): Promise<IssuedCertificate> {
    const ca = await this.authority();
    const existing = await this.read(spec.secretName);
    const current = fromSecret(existing);
    const now = (this.options.now ?? Date.now)();
    if (current !== undefined && options.force !== true && current.caPem === ca.certPem && leafIsCurrent(current, ca.certPem, spec, now)) {
      return current;
    }
    const issued = await issueCertificate(ca, spec);
    const body: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: spec.secretName, namespace: this.options.namespace, resourceVersion: existing?.metadata?.resourceVersion },
      // A Secret's type cannot change: one created empty by the installer (so the manager needs no
      // `create` on Secrets) keeps its type, Opaque.
      type: existing?.type ?? 'kubernetes.io/tls',
      data: { 'ca.crt': b64(ca.certPem), 'tls.crt': b64(issued.certPem), 'tls.key': b64(issued.keyPem) },
    };
    if (await this.write(existing, body)) {
      this.options.log.info(current === undefined ? 'issued a certificate' : 'renewed a certificate', {
        secret: `${this.options.namespace}/${spec.secretName}`,
        commonName: spec.commonName,
        notAfter: forge.pki.certificateFromPem(issued.certPem).validity.notAfter.toISOString(),
      });
      return { caPem: ca.certPem, ...issued };
    }
    // Another replica wrote it first: use theirs.
    return this.certificate(spec);
  }

  private async read(name: string): Promise<SecretObject | undefined> {
    try {
      return await this.secrets.readNamespacedSecret({ name, namespace: this.options.namespace });
    } catch (err) {
      if (isNotFound(err)) {
        return undefined;
      }
      throw err;
    }
  }

  /** false when another writer won the race. */
  private async write(existing: SecretObject | undefined, body: SecretObject): Promise<boolean> {
    const namespace = this.options.namespace;
    try {
      if (existing === undefined) {
        await this.secrets.createNamespacedSecret({ namespace, body });
      } else {
        await this.secrets.replaceNamespacedSecret({ name: body.metadata?.name ?? '', namespace, body });
      }
      return true;
    } catch (err) {
      if (isConflict(err)) {
        return false;
      }
      throw err;
    }
  }
}

function fromSecret(secret: SecretObject | undefined): IssuedCertificate | undefined {
  const caPem = unb64(secret?.data?.['ca.crt']);
  const certPem = unb64(secret?.data?.['tls.crt']);
  const keyPem = unb64(secret?.data?.['tls.key']);
  return caPem === undefined || certPem === undefined || keyPem === undefined ? undefined : { caPem, certPem, keyPem };
}

/**
 * Keeps a set of certificates current: checks them at start and every interval, and calls
 * onSync after every check (changed: one was issued or renewed since the last call).
 */
export class RenewingCertificates {
  private timer: NodeJS.Timeout | undefined;
  private current: string[] = [];

  constructor(
    private readonly store: SecretCertificateStore,
    private readonly specs: LeafSpec[],
    private readonly checkIntervalMs: number,
    private readonly log: Logger,
    private readonly onSync: (certs: IssuedCertificate[], changed: boolean) => Promise<void> | void,
  ) {}

  async start(): Promise<IssuedCertificate[]> {
    const certs = await this.sync();
    this.timer = setInterval(() => {
      this.sync().catch((err: unknown) => this.log.error('certificate check failed', errorLogFields(err)));
    }, this.checkIntervalMs);
    this.timer.unref();
    return certs;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Issues new certificates now, whatever the state of the old ones. */
  async rotate(): Promise<IssuedCertificate[]> {
    return this.sync(true);
  }

  private async sync(force = false): Promise<IssuedCertificate[]> {
    const certs: IssuedCertificate[] = [];
    for (const spec of this.specs) {
      certs.push(await this.store.certificate(spec, { force }));
    }
    const pems = certs.map((c) => c.certPem);
    const changed = pems.some((pem, i) => pem !== this.current[i]);
    await this.onSync(certs, changed);
    this.current = pems;
    return certs;
  }
}
