// Manager flags, named as controller-runtime and kube-controller-manager name them. Parsing is
// pure: a bad value is a UsageError naming the flag and what it accepts.
import { parseCommandLine, parseDuration, UsageError } from './cli-args.js';
import { PODGROUP_SCHEDULER } from './api/podgroup.js';
import type { ListenAddress } from './runtime/manager.js';
import { LOG_LEVELS, type LogFormat, type LogLevel } from './runtime/logging.js';
import type { InitialListMethod } from './runtime/informer.js';
import { validateLeaseTimings } from './runtime/leader-election.js';
import type { ExtenderTlsOptions } from './scheduling/tls.js';

/** Durations are parsed by the shared command-line edge (the kubectl plugin's --timeout too). */
export { parseDuration };

export interface ManagerFlags {
  kubeconfig: string | undefined;
  watchNamespaces: string[] | undefined;
  metricsBindAddress: ListenAddress | undefined;
  metricsSecure: boolean;
  metricsCertDir: string | undefined;
  healthProbeBindAddress: ListenAddress | undefined;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  kubeApiTimeoutMs: number;
  concurrentPodGroupSyncs: number;
  podSchedulerName: string | undefined;
  extenderBindAddress: ListenAddress | undefined;
  extenderMaxBodyBytes: number;
  extenderKubeApiQps: number;
  extenderKubeApiBurst: number;
  extenderSecretNamespace: string;
  extenderSecretName: string;
  extenderCaSecretName: string;
  extenderClientSecretName: string;
  extenderClientName: string;
  extenderSchedulerNames: string[];
  extenderCertDnsNames: string[];
  extenderCertIps: string[];
  extenderCertValidityMs: number;
  extenderClientCertValidityMs: number;
  webhookBindAddress: ListenAddress | undefined;
  webhookMaxBodyBytes: number;
  webhookNamespace: string;
  webhookSecretName: string;
  webhookCaSecretName: string;
  webhookCertDir: string | undefined;
  webhookConfigName: string;
  webhookCertDnsNames: string[];
  webhookCertIps: string[];
  webhookCertValidityMs: number;
  webhookCertCheckIntervalMs: number;
  caValidityMs: number;
  serverMaxConnections: number;
  serverRequestTimeoutMs: number;
  serverHeadersTimeoutMs: number;
  logCollectorImage: string;
  gitSyncImage: string;
  dropManagedFields: boolean;
  informerInitialList: InitialListMethod;
  gracefulShutdownMs: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

interface FlagSpec {
  type: 'string' | 'boolean';
  default: string | boolean;
  help: string;
}

const FLAGS: Record<string, FlagSpec> = {
  kubeconfig: { type: 'string', default: '', help: 'Path to a kubeconfig. Default: in-cluster config, then $KUBECONFIG or ~/.kube/config.' },
  'watch-namespaces': {
    type: 'string',
    default: '',
    help: 'Namespaces whose PodGroups, pods and revisions the manager watches and acts on, comma-separated (a namespace-scoped install: Roles in each, config/namespace-scoped). Default: every namespace.',
  },
  'metrics-bind-address': { type: 'string', default: ':8443', help: 'Address of the Prometheus /metrics endpoint; "0" disables it.' },
  'metrics-secure': {
    type: 'boolean',
    default: true,
    help: 'Serve /metrics over HTTPS to callers whose bearer token passes a TokenReview and a SubjectAccessReview for get /metrics; --metrics-secure=false serves plain HTTP to anyone (local use only).',
  },
  'metrics-cert-dir': {
    type: 'string',
    default: '',
    help: 'Directory with tls.crt and tls.key for /metrics (e.g. from cert-manager). Default: a self-signed certificate made at start.',
  },
  'health-probe-bind-address': { type: 'string', default: ':8081', help: 'Address of /healthz and /readyz; "0" disables them.' },
  'leader-elect': { type: 'boolean', default: false, help: 'Run controllers only while holding the Lease (for more than one replica).' },
  'leader-election-namespace': { type: 'string', default: '', help: 'Namespace of the Lease. Default: the pod namespace, else kube-system.' },
  'leader-election-id': { type: 'string', default: 'podgroup-controller', help: 'Name of the Lease.' },
  'leader-elect-lease-duration': { type: 'string', default: '15s', help: 'How long a standby waits after the last renew before taking over.' },
  'leader-elect-renew-deadline': { type: 'string', default: '10s', help: 'How long the leader retries renewing before it gives up leading.' },
  'leader-elect-retry-period': { type: 'string', default: '2s', help: 'How often candidates try to acquire or renew.' },
  'kube-api-qps': { type: 'string', default: '50', help: 'Client-side sustained request rate to the API server; 0 or less disables throttling.' },
  'kube-api-burst': { type: 'string', default: '100', help: 'Client-side request burst.' },
  'kube-api-timeout': {
    type: 'string',
    default: '30s',
    help: 'Deadline of every API request except watches (a black-holed connection fails the request instead of hanging it).',
  },
  'concurrent-podgroup-syncs': { type: 'string', default: '5', help: 'PodGroups reconciled in parallel (one worker per PodGroup at a time).' },
  'pod-scheduler-name': {
    type: 'string',
    default: PODGROUP_SCHEDULER,
    help: 'schedulerName set on created pods whose template names none; "" leaves it unset (the default scheduler).',
  },
  'extender-bind-address': {
    type: 'string',
    default: ':8888',
    help: 'Address of the HTTPS scheduler extender (filter, prioritize, bind; client certificates only); "0" disables it.',
  },
  'extender-max-body-bytes': { type: 'string', default: '4194304', help: 'Largest extender request body accepted (larger ones get 413).' },
  'extender-kube-api-qps': {
    type: 'string',
    default: '100',
    help: "Request rate of the extender's own API client (its Bindings: one per pod the scheduler places), apart from the controllers' budget; 0 or less disables throttling.",
  },
  'extender-kube-api-burst': { type: 'string', default: '200', help: "Request burst of the extender's own API client." },
  'extender-secret-namespace': {
    type: 'string',
    default: '',
    help: "Namespace of the extender's CA, serving and scheduler-client Secrets. Default: $POD_NAMESPACE, else podgroup-system.",
  },
  'extender-secret-name': { type: 'string', default: 'podgroup-extender-tls', help: "Secret holding the extender's serving certificate." },
  'extender-ca-secret-name': {
    type: 'string',
    default: 'podgroup-extender-ca',
    help: "Secret holding the CA (and its key) that issues the extender's certificates.",
  },
  'extender-client-secret-name': {
    type: 'string',
    default: 'podgroup-scheduler-extender-client',
    help: "Secret the manager writes the scheduler's client certificate into (the scheduler mounts it).",
  },
  'extender-client-name': {
    type: 'string',
    default: 'podgroup-scheduler',
    help: "Common name of the scheduler's client certificate: the only client the extender serves.",
  },
  'extender-scheduler-names': {
    type: 'string',
    default: PODGROUP_SCHEDULER,
    help: 'schedulerNames whose pods the extender binds, comma-separated; it refuses to bind any other pod.',
  },
  'extender-cert-dns-names': {
    type: 'string',
    default: 'podgroup-controller-extender.podgroup-system.svc,podgroup-controller-extender.podgroup-system.svc.cluster.local',
    help: "DNS SANs of the extender's serving certificate, comma-separated.",
  },
  'extender-cert-ips': { type: 'string', default: '', help: "IP SANs of the extender's serving certificate." },
  'extender-cert-validity': { type: 'string', default: '2160h', help: "Lifetime of the extender's serving certificate; renewed at 2/3 of it." },
  'extender-client-cert-validity': {
    type: 'string',
    default: '8760h',
    help: "Lifetime of the scheduler's client certificate; renewed at 2/3 of it (the scheduler reads it at start: restart it within the last third).",
  },
  'webhook-bind-address': { type: 'string', default: ':9443', help: 'Address of the HTTPS sidecar-injection webhook (/mutate-v1-pod); "0" disables it.' },
  'webhook-max-body-bytes': { type: 'string', default: '7340032', help: 'Largest AdmissionReview accepted (larger ones get 413).' },
  'webhook-namespace': {
    type: 'string',
    default: '',
    help: "The controller's namespace: holds the TLS Secret, never injected. Default: $POD_NAMESPACE, else podgroup-system.",
  },
  'webhook-secret-name': { type: 'string', default: 'podgroup-webhook-tls', help: 'Secret holding the webhook serving certificate (shared by replicas).' },
  'webhook-cert-dir': {
    type: 'string',
    default: '',
    help: "Serve the webhook with tls.crt/tls.key from this directory (e.g. cert-manager's Secret) instead of self-managed certificates.",
  },
  'webhook-ca-secret-name': {
    type: 'string',
    default: 'podgroup-webhook-ca',
    help: 'Secret holding the CA (and its key) that issues the webhook serving certificate.',
  },
  'webhook-config-name': { type: 'string', default: 'podgroup-controller', help: 'MutatingWebhookConfiguration whose caBundle the manager keeps current.' },
  'webhook-cert-dns-names': {
    type: 'string',
    default: 'podgroup-controller-webhook.podgroup-system.svc,podgroup-controller-webhook.podgroup-system.svc.cluster.local',
    help: 'DNS SANs of the serving certificate (the webhook Service), comma-separated.',
  },
  'webhook-cert-ips': { type: 'string', default: '', help: 'IP SANs of the serving certificate, e.g. 127.0.0.1 when the API server calls a local process.' },
  'webhook-cert-validity': { type: 'string', default: '2160h', help: 'Lifetime of a serving certificate; it is renewed at 2/3 of it.' },
  'webhook-cert-check-interval': { type: 'string', default: '1m', help: 'How often the certificates, Secrets and caBundle are checked.' },
  'ca-validity': { type: 'string', default: '87600h', help: 'Lifetime of a CA the manager creates (see README, "Security model", for rotating it).' },
  'server-max-connections': { type: 'string', default: '1024', help: 'Open connections each server (extender, webhook, metrics, probes) accepts at once.' },
  'server-request-timeout': { type: 'string', default: '10s', help: 'Time a client has to send a whole request to any server.' },
  'server-headers-timeout': {
    type: 'string',
    default: '5s',
    help: 'Time a client has to send request headers (and finish a TLS handshake); idle keep-alive connections end sooner.',
  },
  'log-collector-image': { type: 'string', default: 'cr.fluentbit.io/fluent/fluent-bit:4.0.3', help: 'Fluent Bit image of the injected log collector.' },
  'git-sync-image': { type: 'string', default: 'registry.k8s.io/git-sync/git-sync:v4.4.2', help: 'git-sync v4 image of the injected code syncer.' },
  'drop-managed-fields': { type: 'boolean', default: true, help: 'Drop metadata.managedFields from cached objects (saves memory).' },
  'informer-initial-list': {
    type: 'string',
    default: 'watch-list',
    help: 'How informers load the initial state: watch-list (a WatchList stream; a paginated list when the API server refuses it) or list (always a paginated list).',
  },
  'graceful-shutdown-timeout': { type: 'string', default: '30s', help: 'How long in-flight reconciles may run after SIGTERM.' },
  'log-level': { type: 'string', default: 'info', help: `One of ${LOG_LEVELS.join(', ')}.` },
  'log-format': { type: 'string', default: 'json', help: 'json (one object per line) or text.' },
};

export function usage(): string {
  const lines = Object.entries(FLAGS).map(([name, spec]) => {
    const def = spec.type === 'boolean' ? `(default ${String(spec.default)})` : spec.default === '' ? '' : `(default ${String(spec.default)})`;
    return `  --${name}${spec.type === 'string' ? ' VALUE' : ''}\n      ${spec.help} ${def}`.trimEnd();
  });
  return `usage: podgroup-controller [flags]\n\n${lines.join('\n')}\n  --help\n`;
}

/** ":8080" → all interfaces; "127.0.0.1:8080"; "0" → disabled. */
export function parseAddress(flag: string, value: string): ListenAddress | undefined {
  if (value === '0') {
    return undefined;
  }
  const m = /^(.*):(\d+)$/.exec(value);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !(port >= 0 && port < 65536)) {
    throw new UsageError(`--${flag}: ${JSON.stringify(value)} is not HOST:PORT, :PORT or 0`);
  }
  const host = m[1] === '' ? '0.0.0.0' : (m[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

function parseNumber(flag: string, value: string, options: { min: number; integer?: boolean }): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < options.min || (options.integer === true && !Number.isInteger(n))) {
    throw new UsageError(`--${flag}: ${JSON.stringify(value)} must be ${options.integer === true ? 'an integer' : 'a number'} >= ${options.min}`);
  }
  return n;
}

const list = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): ManagerFlags | 'help' {
  // Booleans also take Go's --flag=true / --flag=false form (e.g. --metrics-secure=false).
  const args = argv.map((arg) => {
    const m = /^--([a-z-]+)=(true|false)$/.exec(arg);
    return m !== null && FLAGS[m[1] ?? '']?.type === 'boolean' ? (m[2] === 'true' ? `--${m[1]}` : `--no-${m[1]}`) : arg;
  });
  const parsed = parseCommandLine({
    args,
    allowNegative: true,
    options: {
      ...Object.fromEntries(Object.entries(FLAGS).map(([name, spec]) => [name, { type: spec.type }])),
      help: { type: 'boolean' },
    },
  } as { args: string[]; allowNegative: true; options: Record<string, { type: 'string' | 'boolean' }> });
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help === true) {
    return 'help';
  }
  const str = (name: string): string => (typeof v[name] === 'string' ? (v[name] as string) : String(FLAGS[name]?.default ?? ''));
  const bool = (name: string): boolean => (typeof v[name] === 'boolean' ? (v[name] as boolean) : Boolean(FLAGS[name]?.default));
  const positiveDuration = (name: string): number => {
    const ms = parseDuration(name, str(name));
    if (ms <= 0) {
      throw new UsageError(`--${name}: must be greater than 0`);
    }
    return ms;
  };
  const logLevel = str('log-level');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level: ${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const logFormat = str('log-format');
  if (logFormat !== 'json' && logFormat !== 'text') {
    throw new UsageError(`--log-format: ${JSON.stringify(logFormat)} is not json or text`);
  }
  const informerInitialList = str('informer-initial-list');
  if (informerInitialList !== 'watch-list' && informerInitialList !== 'list') {
    throw new UsageError(`--informer-initial-list: ${JSON.stringify(informerInitialList)} is not watch-list or list`);
  }
  const flags: ManagerFlags = {
    kubeconfig: str('kubeconfig') || undefined,
    watchNamespaces: str('watch-namespaces') === '' ? undefined : list(str('watch-namespaces')),
    metricsBindAddress: parseAddress('metrics-bind-address', str('metrics-bind-address')),
    metricsSecure: bool('metrics-secure'),
    metricsCertDir: str('metrics-cert-dir') || undefined,
    healthProbeBindAddress: parseAddress('health-probe-bind-address', str('health-probe-bind-address')),
    leaderElect: bool('leader-elect'),
    leaderElectionNamespace: str('leader-election-namespace') || env.POD_NAMESPACE || 'kube-system',
    leaderElectionId: str('leader-election-id'),
    leaseDurationMs: parseDuration('leader-elect-lease-duration', str('leader-elect-lease-duration')),
    renewDeadlineMs: parseDuration('leader-elect-renew-deadline', str('leader-elect-renew-deadline')),
    retryPeriodMs: parseDuration('leader-elect-retry-period', str('leader-elect-retry-period')),
    kubeApiQps: parseNumber('kube-api-qps', str('kube-api-qps'), { min: -1 }),
    kubeApiBurst: parseNumber('kube-api-burst', str('kube-api-burst'), { min: 1, integer: true }),
    kubeApiTimeoutMs: positiveDuration('kube-api-timeout'),
    concurrentPodGroupSyncs: parseNumber('concurrent-podgroup-syncs', str('concurrent-podgroup-syncs'), { min: 1, integer: true }),
    podSchedulerName: str('pod-scheduler-name') || undefined,
    extenderBindAddress: parseAddress('extender-bind-address', str('extender-bind-address')),
    extenderMaxBodyBytes: parseNumber('extender-max-body-bytes', str('extender-max-body-bytes'), { min: 1024, integer: true }),
    extenderKubeApiQps: parseNumber('extender-kube-api-qps', str('extender-kube-api-qps'), { min: -1 }),
    extenderKubeApiBurst: parseNumber('extender-kube-api-burst', str('extender-kube-api-burst'), { min: 1, integer: true }),
    extenderSecretNamespace: str('extender-secret-namespace') || env.POD_NAMESPACE || 'podgroup-system',
    extenderSecretName: str('extender-secret-name'),
    extenderCaSecretName: str('extender-ca-secret-name'),
    extenderClientSecretName: str('extender-client-secret-name'),
    extenderClientName: str('extender-client-name'),
    extenderSchedulerNames: list(str('extender-scheduler-names')),
    extenderCertDnsNames: list(str('extender-cert-dns-names')),
    extenderCertIps: list(str('extender-cert-ips')),
    extenderCertValidityMs: positiveDuration('extender-cert-validity'),
    extenderClientCertValidityMs: positiveDuration('extender-client-cert-validity'),
    webhookBindAddress: parseAddress('webhook-bind-address', str('webhook-bind-address')),
    webhookMaxBodyBytes: parseNumber('webhook-max-body-bytes', str('webhook-max-body-bytes'), { min: 1024, integer: true }),
    webhookNamespace: str('webhook-namespace') || env.POD_NAMESPACE || 'podgroup-system',
    webhookSecretName: str('webhook-secret-name'),
    webhookCaSecretName: str('webhook-ca-secret-name'),
    webhookCertDir: str('webhook-cert-dir') || undefined,
    webhookConfigName: str('webhook-config-name'),
    webhookCertDnsNames: list(str('webhook-cert-dns-names')),
    webhookCertIps: list(str('webhook-cert-ips')),
    webhookCertValidityMs: parseDuration('webhook-cert-validity', str('webhook-cert-validity')),
    webhookCertCheckIntervalMs: parseDuration('webhook-cert-check-interval', str('webhook-cert-check-interval')),
    caValidityMs: positiveDuration('ca-validity'),
    serverMaxConnections: parseNumber('server-max-connections', str('server-max-connections'), { min: 1, integer: true }),
    serverRequestTimeoutMs: positiveDuration('server-request-timeout'),
    serverHeadersTimeoutMs: positiveDuration('server-headers-timeout'),
    logCollectorImage: str('log-collector-image'),
    gitSyncImage: str('git-sync-image'),
    dropManagedFields: bool('drop-managed-fields'),
    informerInitialList,
    gracefulShutdownMs: parseDuration('graceful-shutdown-timeout', str('graceful-shutdown-timeout')),
    logLevel: logLevel as LogLevel,
    logFormat,
  };
  for (const namespace of flags.watchNamespaces ?? []) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) {
      throw new UsageError(`--watch-namespaces: ${JSON.stringify(namespace)} is not a namespace name`);
    }
  }
  if (flags.watchNamespaces?.length === 0) {
    throw new UsageError('--watch-namespaces: name at least one namespace, or leave it unset to watch all');
  }
  if (flags.extenderSchedulerNames.length === 0) {
    throw new UsageError('--extender-scheduler-names: name at least one scheduler');
  }
  if (flags.serverHeadersTimeoutMs > flags.serverRequestTimeoutMs) {
    throw new UsageError('--server-headers-timeout must not exceed --server-request-timeout');
  }
  if (flags.leaderElect) {
    try {
      validateLeaseTimings(flags);
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  }
  return flags;
}

/** The extender's certificate settings (shared with the local cluster, which issues the scheduler's first). */
export function extenderTlsOptions(flags: ManagerFlags): ExtenderTlsOptions {
  return {
    namespace: flags.extenderSecretNamespace,
    caSecretName: flags.extenderCaSecretName,
    caValidityMs: flags.caValidityMs,
    servingSecretName: flags.extenderSecretName,
    clientSecretName: flags.extenderClientSecretName,
    clientName: flags.extenderClientName,
    dnsNames: flags.extenderCertDnsNames,
    ipAddresses: flags.extenderCertIps,
    servingValidityMs: flags.extenderCertValidityMs,
    clientValidityMs: flags.extenderClientCertValidityMs,
    checkIntervalMs: flags.webhookCertCheckIntervalMs,
  };
}
