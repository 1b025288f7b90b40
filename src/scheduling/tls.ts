// The extender's certificates, issued by the manager's extender CA (runtime/tls-secrets): its
// serving certificate, and the podgroup-scheduler's client certificate, written into a Secret the
// scheduler mounts. The extender serves only clients whose certificate chains to that CA and
// carries the scheduler's name. The CA's key stays in the CA Secret, which only the manager reads.
import * as k8s from '@kubernetes/client-node';
import type { KubeClients } from '../runtime/kube-client.js';
import type { Logger } from '../runtime/logging.js';
import type { ServerTls } from '../runtime/http-server.js';
import { RenewingCertificates, SecretCertificateStore, type LeafSpec, type SecretClient } from '../runtime/tls-secrets.js';

export interface ExtenderTlsOptions {
  namespace: string;
  caSecretName: string;
  caValidityMs: number;
  servingSecretName: string;
  clientSecretName: string;
  /** Common name of the scheduler's client certificate. */
  clientName: string;
  dnsNames: string[];
  ipAddresses: string[];
  servingValidityMs: number;
  clientValidityMs: number;
  checkIntervalMs: number;
}

/** Where the extender's TLS comes from: the Secrets in a cluster, fixed material in a benchmark. */
export interface ExtenderTlsSource {
  start(onChange: (tls: ServerTls) => void): Promise<ServerTls>;
  stop(): void;
}

function specs(options: ExtenderTlsOptions): [LeafSpec, LeafSpec] {
  return [
    {
      secretName: options.servingSecretName,
      commonName: options.dnsNames[0] ?? 'podgroup-extender',
      dnsNames: options.dnsNames,
      ipAddresses: options.ipAddresses,
      usages: ['server'],
      validForMs: options.servingValidityMs,
    },
    { secretName: options.clientSecretName, commonName: options.clientName, usages: ['client'], validForMs: options.clientValidityMs },
  ];
}

function store(secrets: SecretClient, options: ExtenderTlsOptions, log: Logger): SecretCertificateStore {
  return new SecretCertificateStore(secrets, {
    namespace: options.namespace,
    caSecretName: options.caSecretName,
    caCommonName: 'podgroup-extender-ca',
    caValidityMs: options.caValidityMs,
    log,
  });
}

/** The extender's certificates from Secrets, renewed in the background. */
export function secretExtenderTls(clients: KubeClients, options: ExtenderTlsOptions, log: Logger): ExtenderTlsSource {
  let renewing: RenewingCertificates | undefined;
  return {
    async start(onChange) {
      let first: ServerTls | undefined;
      renewing = new RenewingCertificates(
        store(clients.api(k8s.CoreV1Api), options, log),
        specs(options),
        options.checkIntervalMs,
        log,
        ([serving], changed) => {
          if (serving === undefined) {
            return;
          }
          const tls = { certPem: serving.certPem, keyPem: serving.keyPem, clientCaPem: serving.caPem };
          if (first === undefined) {
            first = tls;
          } else if (changed) {
            onChange(tls);
          }
        },
      );
      await renewing.start();
      if (first === undefined) {
        throw new Error('no extender serving certificate');
      }
      return first;
    },
    stop() {
      renewing?.stop();
    },
  };
}

/**
 * Issues (or checks) the extender's certificates once, as the manager would at start: used by the
 * local cluster to give its podgroup-scheduler the client certificate before any manager runs.
 */
export async function ensureExtenderCertificates(
  secrets: SecretClient,
  options: ExtenderTlsOptions,
  log: Logger,
): Promise<{ caPem: string; clientCertPem: string; clientKeyPem: string }> {
  const pki = store(secrets, options, log);
  const [servingSpec, clientSpec] = specs(options);
  await pki.certificate(servingSpec);
  const client = await pki.certificate(clientSpec);
  return { caPem: client.caPem, clientCertPem: client.certPem, clientKeyPem: client.keyPem };
}
