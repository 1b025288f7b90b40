// What the local cluster applies or hands its components, made from the repository's own
// manifests: the CRDs (crds/), the sidecar webhook's configuration for a manager running as a
// local process (config/webhook), and the schedulers' configurations (the default kube-scheduler's,
// and config/scheduler's podgroup-scheduler pointed at the local API server and extender).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { REPO_ROOT } from './paths.js';
import { ClusterError, waitFor } from './processes.js';
import { loadKubeConfig, type ClusterState, type ExtenderClientTlsFiles } from './state.js';

/**
 * Applies crds/ with server-side apply (the PodGroup CRD is too large for client-side apply's
 * last-applied annotation) and waits until every CRD is Established.
 */
export async function installCrds(state: ClusterState): Promise<void> {
  const dir = join(REPO_ROOT, 'crds');
  const result = spawnSync('kubectl', ['--kubeconfig', state.kubeconfig, 'apply', '--server-side', '--force-conflicts', '-k', dir], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new ClusterError(`kubectl apply -k crds/ failed: ${result.stderr || result.error?.message}`);
  }
  const ext = loadKubeConfig(state).makeApiClient(k8s.ApiextensionsV1Api);
  const names = [...result.stdout.matchAll(/customresourcedefinition\.apiextensions\.k8s\.io\/(\S+)/g)].map((m) => m[1] ?? '');
  for (const name of names) {
    await waitFor(
      `CRD ${name} to be Established`,
      async () => {
        const crd = await ext.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
      },
      { timeoutMs: 60_000 },
    );
  }
}

/** Applies config/policy: the ValidatingAdmissionPolicies that bound the manager's ServiceAccount. */
export function installAdmissionPolicies(state: ClusterState): void {
  const result = spawnSync(
    'kubectl',
    ['--kubeconfig', state.kubeconfig, 'apply', '--server-side', '--force-conflicts', '-k', join(REPO_ROOT, 'config', 'policy')],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    throw new ClusterError(`kubectl apply -k config/policy failed: ${result.stderr || result.error?.message}`);
  }
}

/**
 * config/webhook's MutatingWebhookConfiguration for a manager running as a local process: the API
 * server calls https://127.0.0.1:port, and `ownNamespace` (the manager's, never injected) takes
 * the place of podgroup-system in the namespace selectors.
 */
export function localWebhookConfiguration(port: number, options: { name?: string; ownNamespace?: string } = {}): k8s.V1MutatingWebhookConfiguration {
  const config = k8s.loadYaml<k8s.V1MutatingWebhookConfiguration>(
    readFileSync(join(REPO_ROOT, 'config', 'webhook', 'mutating_webhook_configuration.yaml'), 'utf8'),
  );
  if (options.name !== undefined) {
    config.metadata = { ...config.metadata, name: options.name };
  }
  for (const webhook of config.webhooks ?? []) {
    webhook.clientConfig = { url: `https://127.0.0.1:${port}/mutate-v1-pod` };
    for (const expression of webhook.namespaceSelector?.matchExpressions ?? []) {
      if (options.ownNamespace !== undefined && expression.values !== undefined) {
        expression.values = expression.values.map((v) => (v === 'podgroup-system' ? (options.ownNamespace as string) : v));
      }
    }
  }
  return config;
}

/**
 * config/scheduler/namespaced/scheduler-config.yaml, pointed at the local API server and extender:
 * the same HTTPS and client-certificate settings, with the mounted Secret's files replaced by the
 * local copies (the server name stays the Service's, which the serving certificate carries).
 */
export function localPodGroupSchedulerConfig(
  kubeconfig: string,
  extenderPort: number,
  tls: ExtenderClientTlsFiles,
  overrides: { schedulerName?: string; ignorable?: boolean } = {},
): string {
  const config = parseYaml(readFileSync(join(REPO_ROOT, 'config', 'scheduler', 'namespaced', 'scheduler-config.yaml'), 'utf8')) as {
    clientConnection?: object;
    leaderElection?: object;
    profiles: Array<{ schedulerName: string }>;
    extenders: Array<{ urlPrefix: string; ignorable?: boolean; tlsConfig?: { certFile?: string; keyFile?: string; caFile?: string } }>;
  };
  config.clientConnection = { kubeconfig, qps: 200, burst: 400 };
  config.leaderElection = { leaderElect: false };
  for (const extender of config.extenders) {
    const url = new URL(extender.urlPrefix);
    url.hostname = '127.0.0.1';
    url.port = String(extenderPort);
    extender.urlPrefix = url.toString().replace(/\/$/, '');
    extender.tlsConfig = { ...extender.tlsConfig, certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile };
    if (overrides.ignorable !== undefined) {
      extender.ignorable = overrides.ignorable;
    }
  }
  if (overrides.schedulerName !== undefined) {
    for (const profile of config.profiles) {
      profile.schedulerName = overrides.schedulerName;
    }
  }
  return toYaml(config);
}

/** The default kube-scheduler's configuration: the local API server, no leader election. */
export function kubeSchedulerConfig(kubeconfig: string): string {
  return toYaml({
    apiVersion: 'kubescheduler.config.k8s.io/v1',
    kind: 'KubeSchedulerConfiguration',
    clientConnection: { kubeconfig, qps: 200, burst: 400 },
    leaderElection: { leaderElect: false },
  });
}
