// Self-managed webhook TLS, without cert-manager: a CA and a serving certificate kept in a Secret
// (so every replica serves the same one), the CA written into the MutatingWebhookConfiguration's
// caBundle, and the serving certificate renewed at 2/3 of its lifetime. The HTTPS server swaps
// in the new certificate without restarting, so no request is dropped. The CA stays the same
// across renewals, so the caBundle never races a new certificate.
import * as k8s from '@kubernetes/client-node';
import { certificateNotAfter, createCertificateAuthority, issueCertificate } from '../runtime/certificates.js';
import { errorLogFields, isConflict, isNotFound, type KubeClients } from '../runtime/kube-client.js';
import type { Logger } from '../runtime/logging.js';

export interface TlsOptions {
  namespace: string;
  secretName: string;
  webhookConfigName: string;
  dnsNames: string[];
  ipAddresses: string[];
  certValidityMs: number;
  checkIntervalMs: number;
}

export interface ServingCertificate {
  caPem: string;
  certPem: string;
  keyPem: string;
}

const CA_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;

export class WebhookCertificates {
  private readonly core: k8s.CoreV1Api;
  private readonly admission: k8s.AdmissionregistrationV1Api;
  private timer: NodeJS.Timeout | undefined;
  private current: ServingCertificate | undefined;

  constructor(
    clients: KubeClients,
    private readonly options: TlsOptions,
    private readonly log: Logger,
    private readonly onChange: (cert: ServingCertificate) => void,
  ) {
    this.core = clients.api(k8s.CoreV1Api);
    this.admission = clients.api(k8s.AdmissionregistrationV1Api);
  }

  /** Loads or creates the certificate, patches the caBundle, and starts the renewal loop. */
  async start(): Promise<ServingCertificate> {
    const cert = await this.sync();
    this.timer = setInterval(() => {
      this.sync().catch((err: unknown) => this.log.error('webhook certificate check failed', errorLogFields(err)));
    }, this.options.checkIntervalMs);
    this.timer.unref();
    return cert;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Forces a new serving certificate now (tests, or an operator via restart). */
  async rotate(): Promise<ServingCertificate> {
    const secret = await this.read();
    return this.apply(await this.write(secret, true));
  }

  private async sync(): Promise<ServingCertificate> {
    const secret = await this.read();
    const cert = this.fromSecret(secret);
    if (cert === undefined || this.needsRenewal(cert)) {
      return this.apply(await this.write(secret, cert !== undefined));
    }
    return this.apply(cert);
  }

  private async apply(cert: ServingCertificate): Promise<ServingCertificate> {
    if (this.current?.certPem !== cert.certPem) {
      this.current = cert;
      this.onChange(cert);
      this.log.info('webhook serving certificate loaded', { notAfter: certificateNotAfter(cert.certPem).toISOString() });
    }
    await this.patchCaBundle(cert.caPem);
    return cert;
  }

  private needsRenewal(cert: ServingCertificate): boolean {
    const notAfter = certificateNotAfter(cert.certPem).getTime();
    const renewAt = notAfter - this.options.certValidityMs / 3;
    return Date.now() >= renewAt;
  }

  private async read(): Promise<k8s.V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ name: this.options.secretName, namespace: this.options.namespace });
    } catch (err) {
      if (isNotFound(err)) {
        return undefined;
      }
      throw err;
    }
  }

  private fromSecret(secret: k8s.V1Secret | undefined): ServingCertificate | undefined {
    const d = secret?.data;
    if (d?.['ca.crt'] === undefined || d['tls.crt'] === undefined || d['tls.key'] === undefined) {
      return undefined;
    }
    const decode = (v: string): string => Buffer.from(v, 'base64').toString('utf8');
    return { caPem: decode(d['ca.crt']), certPem: decode(d['tls.crt']), keyPem: decode(d['tls.key']) };
  }

  /** Writes a new serving certificate (and a CA if there is none); the loser of a race re-reads. */
  private async write(secret: k8s.V1Secret | undefined, renewing: boolean): Promise<ServingCertificate> {
    const d = secret?.data ?? {};
    const decode = (v: string | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8'));
    const existingCa = decode(d['ca.crt']);
    const existingKey = decode(d['ca.key']);
    const ca = existingCa !== undefined && existingKey !== undefined ? { certPem: existingCa, keyPem: existingKey } : createCertificateAuthority('podgroup-webhook-ca', CA_VALIDITY_MS);
    const serving = issueCertificate(ca, {
      commonName: this.options.dnsNames[0] ?? 'podgroup-webhook',
      dnsNames: this.options.dnsNames,
      ipAddresses: this.options.ipAddresses,
      usages: ['server'],
      validForMs: this.options.certValidityMs,
    });
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const body: k8s.V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: this.options.secretName, namespace: this.options.namespace, resourceVersion: secret?.metadata?.resourceVersion },
      type: 'kubernetes.io/tls',
      data: { 'ca.crt': b64(ca.certPem), 'ca.key': b64(ca.keyPem), 'tls.crt': b64(serving.certPem), 'tls.key': b64(serving.keyPem) },
    };
    try {
      if (secret === undefined) {
        await this.core.createNamespacedSecret({ namespace: this.options.namespace, body });
      } else {
        await this.core.replaceNamespacedSecret({ name: this.options.secretName, namespace: this.options.namespace, body });
      }
      this.log.info(renewing ? 'renewed the webhook serving certificate' : 'created the webhook certificate authority and serving certificate');
    } catch (err) {
      if (isConflict(err)) {
        // Another replica wrote it first: use theirs.
        const theirs = this.fromSecret(await this.read());
        if (theirs !== undefined) {
          return theirs;
        }
      }
      throw err;
    }
    return { caPem: ca.certPem, certPem: serving.certPem, keyPem: serving.keyPem };
  }

  private async patchCaBundle(caPem: string): Promise<void> {
    let config: k8s.V1MutatingWebhookConfiguration;
    try {
      config = await this.admission.readMutatingWebhookConfiguration({ name: this.options.webhookConfigName });
    } catch (err) {
      if (isNotFound(err)) {
        this.log.debug('no MutatingWebhookConfiguration to patch yet', { name: this.options.webhookConfigName });
        return;
      }
      throw err;
    }
    const bundle = Buffer.from(caPem).toString('base64');
    const ops = (config.webhooks ?? [])
      .map((w, i) => ({ w, i }))
      .filter(({ w }) => w.clientConfig.caBundle !== bundle)
      .map(({ i }) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle }));
    if (ops.length > 0) {
      await this.admission.patchMutatingWebhookConfiguration({ name: this.options.webhookConfigName, body: ops });
      this.log.info('patched caBundle', { webhookConfiguration: this.options.webhookConfigName, webhooks: ops.length });
    }
  }
}
