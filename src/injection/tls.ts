// The webhook's TLS, without cert-manager: a serving certificate issued by the manager's CA
// (runtime/tls-secrets: the CA key in its own Secret, the certificate in the serving Secret),
// that CA kept in the MutatingWebhookConfiguration's caBundle, and the certificate renewed at 2/3
// of its lifetime. The caBundle is patched before a new certificate is served, and the CA stays
// the same across renewals, so the API server never sees a certificate it does not trust.
import * as k8s from '@kubernetes/client-node';
import type { KubeClients } from '../runtime/kube-client.js';
import { isNotFound } from '../runtime/kube-client.js';
import type { Logger } from '../runtime/logging.js';
import { RenewingCertificates, SecretCertificateStore, type IssuedCertificate } from '../runtime/tls-secrets.js';

export interface TlsOptions {
  namespace: string;
  /** The serving certificate (tls.crt, tls.key, ca.crt). */
  secretName: string;
  /** The CA (ca.crt, ca.key): read by the manager only. */
  caSecretName: string;
  caValidityMs: number;
  webhookConfigName: string;
  dnsNames: string[];
  ipAddresses: string[];
  certValidityMs: number;
  checkIntervalMs: number;
}

export type ServingCertificate = IssuedCertificate;

export class WebhookCertificates {
  private readonly admission: k8s.AdmissionregistrationV1Api;
  private readonly renewing: RenewingCertificates;

  constructor(
    clients: KubeClients,
    private readonly options: TlsOptions,
    private readonly log: Logger,
    onChange: (cert: ServingCertificate) => void,
  ) {
    this.admission = clients.api(k8s.AdmissionregistrationV1Api);
    const store = new SecretCertificateStore(clients.api(k8s.CoreV1Api), {
      namespace: options.namespace,
      caSecretName: options.caSecretName,
      caCommonName: 'podgroup-webhook-ca',
      caValidityMs: options.caValidityMs,
      log,
    });
    const spec = {
      secretName: options.secretName,
      commonName: options.dnsNames[0] ?? 'podgroup-webhook',
      dnsNames: options.dnsNames,
      ipAddresses: options.ipAddresses,
      usages: ['server' as const],
      validForMs: options.certValidityMs,
    };
    this.renewing = new RenewingCertificates(store, [spec], options.checkIntervalMs, log, async ([cert], changed) => {
      if (cert === undefined) {
        return;
      }
      // Trusted first, served second.
      await this.patchCaBundle(cert.caPem);
      if (changed) {
        onChange(cert);
      }
    });
  }

  /** Loads or creates the certificate, patches the caBundle, and starts the renewal loop. */
  async start(): Promise<ServingCertificate> {
    const [cert] = await this.renewing.start();
    if (cert === undefined) {
      throw new Error('no webhook serving certificate');
    }
    return cert;
  }

  stop(): void {
    this.renewing.stop();
  }

  /** Forces a new serving certificate now (tests, or an operator via restart). */
  async rotate(): Promise<ServingCertificate> {
    const [cert] = await this.renewing.rotate();
    if (cert === undefined) {
      throw new Error('no webhook serving certificate');
    }
    return cert;
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
