#!/usr/bin/env node
// The podgroup-controller manager: flags → manager → controllers and servers.
//   node dist/main.js [--kubeconfig FILE] [--leader-elect] [--metrics-bind-address :8443] ...
// `--help` lists every flag.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { UsageError } from './cli-args.js';
import { extenderTlsOptions, parseFlags, usage, type ManagerFlags } from './flags.js';
import { slimPod } from './pod-projection.js';
import { setupPodGroupController } from './podgroup/controller.js';
import { setupSchedulerExtender } from './scheduling/extender.js';
import { secretExtenderTls } from './scheduling/tls.js';
import { setupSidecarWebhook } from './injection/webhook.js';
import { describeError } from './runtime/kube-client.js';
import { createLogger } from './runtime/logging.js';
import { guardUnhandledRejections, Manager } from './runtime/manager.js';

function loadKubeConfig(path: string | undefined): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path !== undefined) {
    kc.loadFromFile(path);
  } else {
    // In a pod: the service account; elsewhere $KUBECONFIG or ~/.kube/config.
    kc.loadFromDefault();
  }
  return kc;
}

/** Native sidecars (init containers with restartPolicy Always) are on by default from 1.29. */
async function supportsNativeSidecars(kc: k8s.KubeConfig, logger: ReturnType<typeof createLogger>): Promise<boolean> {
  try {
    const v = await kc.makeApiClient(k8s.VersionApi).getCode();
    const minor = Number.parseInt(v.minor, 10);
    return Number(v.major) > 1 || minor >= 29;
  } catch (err) {
    logger.warn('could not read the API server version; injecting sidecars as regular containers', { error: describeError(err) });
    return false;
  }
}

export async function run(flags: ManagerFlags): Promise<Manager> {
  const logger = createLogger({ level: flags.logLevel, format: flags.logFormat });
  guardUnhandledRejections(logger);
  const kc = loadKubeConfig(flags.kubeconfig);
  const identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
  const connectionLimits = {
    maxConnections: flags.serverMaxConnections,
    requestTimeoutMs: flags.serverRequestTimeoutMs,
    headersTimeoutMs: flags.serverHeadersTimeoutMs,
  };
  const manager = new Manager({
    kubeConfig: kc,
    client: { qps: flags.kubeApiQps, burst: flags.kubeApiBurst, timeoutMs: flags.kubeApiTimeoutMs },
    logger,
    metricsAddress: flags.metricsBindAddress,
    metricsSecure: flags.metricsSecure,
    metricsCertDir: flags.metricsCertDir,
    connectionLimits,
    probeAddress: flags.healthProbeBindAddress,
    leaderElection: flags.leaderElect
      ? {
          namespace: flags.leaderElectionNamespace,
          name: flags.leaderElectionId,
          identity,
          leaseDurationMs: flags.leaseDurationMs,
          renewDeadlineMs: flags.renewDeadlineMs,
          retryPeriodMs: flags.retryPeriodMs,
        }
      : undefined,
    gracefulShutdownMs: flags.gracefulShutdownMs,
    dropManagedFields: flags.dropManagedFields,
    informerInitialList: flags.informerInitialList,
    namespaces: flags.watchNamespaces,
    cacheProjections: { pods: slimPod as (obj: k8s.KubernetesObject) => k8s.KubernetesObject },
    eventComponent: 'podgroup-controller',
  });
  setupPodGroupController(manager, { workers: flags.concurrentPodGroupSyncs, schedulerName: flags.podSchedulerName });
  const webhook =
    flags.webhookBindAddress === undefined
      ? undefined
      : setupSidecarWebhook(manager, {
          address: flags.webhookBindAddress,
          ownNamespace: flags.webhookNamespace,
          limits: { ...connectionLimits, maxBodyBytes: flags.webhookMaxBodyBytes },
          certDir: flags.webhookCertDir,
          settings: {
            logCollectorImage: flags.logCollectorImage,
            gitSyncImage: flags.gitSyncImage,
            nativeSidecars: await supportsNativeSidecars(kc, logger),
          },
          tls: {
            namespace: flags.webhookNamespace,
            secretName: flags.webhookSecretName,
            caSecretName: flags.webhookCaSecretName,
            caValidityMs: flags.caValidityMs,
            webhookConfigName: flags.webhookConfigName,
            dnsNames: flags.webhookCertDnsNames,
            ipAddresses: flags.webhookCertIps,
            certValidityMs: flags.webhookCertValidityMs,
            checkIntervalMs: flags.webhookCertCheckIntervalMs,
          },
        });
  const extender =
    flags.extenderBindAddress === undefined
      ? undefined
      : setupSchedulerExtender(manager, {
          // As kube-scheduler's own client: binds never wait behind the controllers' requests.
          client: { qps: flags.extenderKubeApiQps, burst: flags.extenderKubeApiBurst, timeoutMs: flags.kubeApiTimeoutMs },
          address: flags.extenderBindAddress,
          limits: { ...connectionLimits, maxBodyBytes: flags.extenderMaxBodyBytes },
          clientName: flags.extenderClientName,
          schedulerNames: flags.extenderSchedulerNames,
          tls: secretExtenderTls(manager.clients, extenderTlsOptions(flags), logger),
        });

  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) {
        logger.warn('second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info('received signal, shutting down', { signal });
      manager.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error('shutdown failed', { error: String(err) });
          process.exit(1);
        },
      );
    });
  }
  await manager.start();
  logger.info('manager started', {
    identity,
    metrics: manager.metricsPort,
    probes: manager.probePort,
    extender: extender?.port,
    webhook: webhook?.port,
    leaderElection: flags.leaderElect,
  });
  return manager;
}

try {
  const flags = parseFlags(process.argv.slice(2));
  if (flags === 'help') {
    process.stdout.write(usage());
  } else {
    await run(flags);
  }
} catch (err) {
  if (err instanceof UsageError) {
    // One line naming the flag; the full list is one --help away (it is long).
    process.stderr.write(`podgroup-controller: ${err.message}\nusage: podgroup-controller [flags]; --help lists every flag\n`);
    process.exit(2);
  }
  process.stderr.write(`podgroup-controller: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
