// The local cluster's PKI: its CA and the certificates issued from it (the API server's serving
// and kubelet-client certificates, the admin's, the service-account key pair), the kubeconfigs
// made from them, and the podgroup-scheduler's client certificate for the extender, which the
// manager's own code issues as it would in the cluster.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { extenderTlsOptions, parseFlags } from '../../src/flags.js';
import { createCertificateAuthoritySync, createSigningKeyPair, issueCertificateSync, type PemKeyPair } from '../../src/runtime/certificates.js';
import { createLogger } from '../../src/runtime/logging.js';
import { ensureExtenderCertificates } from '../../src/scheduling/tls.js';
import { ClusterError } from './processes.js';
import { loadKubeConfig, type ClusterState, type ExtenderClientTlsFiles } from './state.js';

export const YEAR_MS = 365 * 24 * 3600 * 1000;

/**
 * Where the local cluster keeps the extender's Secrets (managers started against it get
 * `--extender-secret-namespace` from the state): a namespace of its own, so removing an installed
 * podgroup-system (the deploy test deletes its bundle) never takes the CA the running
 * podgroup-scheduler trusts.
 */
export const LOCAL_EXTENDER_NAMESPACE = 'podgroup-local';

/** The files writePki wrote under STATE_DIR/pki. */
export interface ControlPlanePki {
  caCert: string;
  caKey: string;
  adminCert: string;
  adminKey: string;
  servingCert: string;
  servingKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  saKey: string;
  saPub: string;
}

/** A new CA and everything the control plane's components need from it, under STATE_DIR/pki. */
export function writePki(stateDir: string): ControlPlanePki {
  const dir = join(stateDir, 'pki');
  mkdirSync(dir, { recursive: true });
  const write = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const ca = createCertificateAuthoritySync('podgroup-local-ca', 10 * YEAR_MS);
  const serving = issueCertificateSync(ca, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ipAddresses: ['127.0.0.1', '10.96.0.1'],
    usages: ['server'],
    validForMs: YEAR_MS,
  });
  const admin = issueCertificateSync(ca, {
    commonName: 'admin',
    organizations: ['system:masters'],
    usages: ['client'],
    validForMs: YEAR_MS,
  });
  // How the API server authenticates to a real kubelet (logs, exec, port-forward).
  const kubeletClient = issueCertificateSync(ca, {
    commonName: 'kube-apiserver-kubelet-client',
    organizations: ['system:masters'],
    usages: ['client'],
    validForMs: YEAR_MS,
  });
  const sa = createSigningKeyPair();
  const pair = (p: PemKeyPair, name: string): [string, string] => [write(`${name}.crt`, p.certPem), write(`${name}.key`, p.keyPem)];
  const [caCert, caKey] = pair(ca, 'ca');
  const [servingCert, servingKey] = pair(serving, 'apiserver');
  const [adminCert, adminKey] = pair(admin, 'admin');
  const [kubeletClientCert, kubeletClientKey] = pair(kubeletClient, 'apiserver-kubelet-client');
  return {
    kubeletClientCert,
    kubeletClientKey,
    caCert,
    caKey,
    adminCert,
    adminKey,
    servingCert,
    servingKey,
    saKey: write('sa.key', sa.privateKeyPem),
    saPub: write('sa.pub', sa.publicKeyPem),
  };
}

/** The cluster CA's certificate and key, to issue more certificates from. */
export function clusterCa(state: ClusterState): PemKeyPair {
  return { certPem: readFileSync(state.pki.caCert, 'utf8'), keyPem: readFileSync(state.pki.caKey, 'utf8') };
}

interface KubeconfigNames {
  cluster: string;
  user: string;
  context: string;
  namespace?: string;
}

function kubeconfigYaml(server: string, caPem: string, client: PemKeyPair, names: KubeconfigNames): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const context = { cluster: names.cluster, user: names.user, ...(names.namespace === undefined ? {} : { namespace: names.namespace }) };
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: names.cluster, cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: names.user, user: { 'client-certificate-data': b64(client.certPem), 'client-key-data': b64(client.keyPem) } }],
    contexts: [{ name: names.context, context }],
    'current-context': names.context,
  });
}

/** The admin's kubeconfig (the one users and tests export as KUBECONFIG), written to `path`. */
export function writeAdminKubeconfig(path: string, server: string, pki: ControlPlanePki): void {
  const admin = { certPem: readFileSync(pki.adminCert, 'utf8'), keyPem: readFileSync(pki.adminKey, 'utf8') };
  const names = { cluster: 'podgroup-local', user: 'admin', context: 'podgroup-local', namespace: 'default' };
  writeFileSync(path, kubeconfigYaml(server, readFileSync(pki.caCert, 'utf8'), admin, names), { mode: 0o600 });
}

/** A kubeconfig at DIR/pki/NAME.kubeconfig for a client certificate the cluster CA issues now. */
export function clientKubeconfig(state: ClusterState, dir: string, name: string, commonName: string, organizations: string[] = []): string {
  const ca = clusterCa(state);
  const client = issueCertificateSync(ca, { commonName, organizations, usages: ['client'], validForMs: YEAR_MS });
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const path = join(dir, 'pki', `${name}.kubeconfig`);
  writeFileSync(path, kubeconfigYaml(state.apiserverUrl, ca.certPem, client, { cluster: 'local', user: name, context: name }), { mode: 0o600 });
  return path;
}

/** Where the podgroup-scheduler's extender client certificate and CA are kept. */
export function extenderClientTlsFiles(stateDir: string): ExtenderClientTlsFiles {
  return {
    certFile: join(stateDir, 'pki', 'podgroup-scheduler-extender-client.crt'),
    keyFile: join(stateDir, 'pki', 'podgroup-scheduler-extender-client.key'),
    caFile: join(stateDir, 'pki', 'podgroup-extender-ca.crt'),
  };
}

/**
 * What the kubelet does for the in-cluster scheduler: the manager's own code (run here once, as
 * at its start) creates the extender CA and the scheduler's client certificate in their Secrets
 * (in podgroup-local), and their contents become the files the scheduler reads.
 */
export async function writeExtenderClientTls(state: ClusterState): Promise<void> {
  const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);
  try {
    await core.createNamespace({ body: { metadata: { name: state.extenderSecretNamespace, labels: { 'app.kubernetes.io/part-of': 'podgroup-controller' } } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) {
      throw err;
    }
  }
  const flags = parseFlags(['--extender-secret-namespace', state.extenderSecretNamespace], {});
  if (flags === 'help') {
    throw new ClusterError('unexpected help');
  }
  const tls = await ensureExtenderCertificates(core, extenderTlsOptions(flags), createLogger({ silent: true }));
  writeFileSync(state.extenderClientTls.certFile, tls.clientCertPem, { mode: 0o600 });
  writeFileSync(state.extenderClientTls.keyFile, tls.clientKeyPem, { mode: 0o600 });
  writeFileSync(state.extenderClientTls.caFile, tls.caPem, { mode: 0o600 });
}
