// Manager flags, named as controller-runtime and kube-controller-manager name them. Parsing is
// pure: a bad value is a UsageError naming the flag and what it accepts.
import { parseCommandLine, parseDuration, UsageError } from './cli-args.js';
import { PODGROUP_SCHEDULER } from './api/podgroup.js';
import type { ListenAddress } from './runtime/manager.js';
import { LOG_LEVELS, type LogFormat, type LogLevel } from './runtime/logging.js';
import { validateLeaseTimings } from './runtime/leader-election.js';

/** Durations are parsed by the shared command-line edge (the kubectl plugin's --timeout too). */
export { parseDuration };

export interface ManagerFlags {
  kubeconfig: string | undefined;
  metricsBindAddress: ListenAddress | undefined;
  healthProbeBindAddress: ListenAddress | undefined;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  concurrentPodGroupSyncs: number;
  podSchedulerName: string | undefined;
  extenderBindAddress: ListenAddress | undefined;
  extenderMaxBodyBytes: number;
  webhookBindAddress: ListenAddress | undefined;
  webhookNamespace: string;
  webhookSecretName: string;
  webhookConfigName: string;
  webhookCertDnsNames: string[];
  webhookCertIps: string[];
  webhookCertValidityMs: number;
  webhookCertCheckIntervalMs: number;
  logCollectorImage: string;
  gitSyncImage: string;
  dropManagedFields: boolean;
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
  'metrics-bind-address': { type: 'string', default: ':8080', help: 'Address of the Prometheus /metrics endpoint; "0" disables it.' },
  'health-probe-bind-address': { type: 'string', default: ':8081', help: 'Address of /healthz and /readyz; "0" disables them.' },
  'leader-elect': { type: 'boolean', default: false, help: 'Run controllers only while holding the Lease (for more than one replica).' },
  'leader-election-namespace': { type: 'string', default: '', help: 'Namespace of the Lease. Default: the pod namespace, else kube-system.' },
  'leader-election-id': { type: 'string', default: 'podgroup-controller', help: 'Name of the Lease.' },
  'leader-elect-lease-duration': { type: 'string', default: '15s', help: 'How long a standby waits after the last renew before taking over.' },
  'leader-elect-renew-deadline': { type: 'string', default: '10s', help: 'How long the leader retries renewing before it gives up leading.' },
  'leader-elect-retry-period': { type: 'string', default: '2s', help: 'How often candidates try to acquire or renew.' },
  'kube-api-qps': { type: 'string', default: '50', help: 'Client-side sustained request rate to the API server; 0 or less disables throttling.' },
  'kube-api-burst': { type: 'string', default: '100', help: 'Client-side request burst.' },
  'concurrent-podgroup-syncs': { type: 'string', default: '5', help: 'PodGroups reconciled in parallel (one worker per PodGroup at a time).' },
  'pod-scheduler-name': {
    type: 'string',
    default: PODGROUP_SCHEDULER,
    help: 'schedulerName set on created pods whose template names none; "" leaves it unset (the default scheduler).',
  },
  'extender-bind-address': { type: 'string', default: ':8888', help: 'Address of the scheduler extender (filter, prioritize, bind); "0" disables it.' },
  'extender-max-body-bytes': { type: 'string', default: '4194304', help: 'Largest extender request body accepted (larger ones get 413).' },
  'webhook-bind-address': { type: 'string', default: ':9443', help: 'Address of the HTTPS sidecar-injection webhook (/mutate-v1-pod); "0" disables it.' },
  'webhook-namespace': { type: 'string', default: '', help: 'The controller\'s namespace: holds the TLS Secret, never injected. Default: $POD_NAMESPACE, else podgroup-system.' },
  'webhook-secret-name': { type: 'string', default: 'podgroup-webhook-tls', help: 'Secret holding the webhook CA and serving certificate (shared by replicas).' },
  'webhook-config-name': { type: 'string', default: 'podgroup-controller', help: 'MutatingWebhookConfiguration whose caBundle the manager keeps current.' },
  'webhook-cert-dns-names': {
    type: 'string',
    default: 'podgroup-controller-webhook.podgroup-system.svc,podgroup-controller-webhook.podgroup-system.svc.cluster.local',
    help: 'DNS SANs of the serving certificate (the webhook Service), comma-separated.',
  },
  'webhook-cert-ips': { type: 'string', default: '', help: 'IP SANs of the serving certificate, e.g. 127.0.0.1 when the API server calls a local process.' },
  'webhook-cert-validity': { type: 'string', default: '2160h', help: 'Lifetime of a serving certificate; it is renewed at 2/3 of it.' },
  'webhook-cert-check-interval': { type: 'string', default: '1m', help: 'How often the certificate, Secret and caBundle are checked.' },
  'log-collector-image': { type: 'string', default: 'cr.fluentbit.io/fluent/fluent-bit:4.0.3', help: 'Fluent Bit image of the injected log collector.' },
  'git-sync-image': { type: 'string', default: 'registry.k8s.io/git-sync/git-sync:v4.4.2', help: 'git-sync v4 image of the injected code syncer.' },
  'drop-managed-fields': { type: 'boolean', default: true, help: 'Drop metadata.managedFields from cached objects (saves memory).' },
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

const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter((s) => s !== '');

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): ManagerFlags | 'help' {
  const parsed = parseCommandLine({
    args: argv,
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
  const logLevel = str('log-level');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level: ${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const logFormat = str('log-format');
  if (logFormat !== 'json' && logFormat !== 'text') {
    throw new UsageError(`--log-format: ${JSON.stringify(logFormat)} is not json or text`);
  }
  const flags: ManagerFlags = {
    kubeconfig: str('kubeconfig') || undefined,
    metricsBindAddress: parseAddress('metrics-bind-address', str('metrics-bind-address')),
    healthProbeBindAddress: parseAddress('health-probe-bind-address', str('health-probe-bind-address')),
    leaderElect: bool('leader-elect'),
    leaderElectionNamespace: str('leader-election-namespace') || env.POD_NAMESPACE || 'kube-system',
    leaderElectionId: str('leader-election-id'),
    leaseDurationMs: parseDuration('leader-elect-lease-duration', str('leader-elect-lease-duration')),
    renewDeadlineMs: parseDuration('leader-elect-renew-deadline', str('leader-elect-renew-deadline')),
    retryPeriodMs: parseDuration('leader-elect-retry-period', str('leader-elect-retry-period')),
    kubeApiQps: parseNumber('kube-api-qps', str('kube-api-qps'), { min: -1 }),
    kubeApiBurst: parseNumber('kube-api-burst', str('kube-api-burst'), { min: 1, integer: true }),
    concurrentPodGroupSyncs: parseNumber('concurrent-podgroup-syncs', str('concurrent-podgroup-syncs'), { min: 1, integer: true }),
    podSchedulerName: str('pod-scheduler-name') || undefined,
    extenderBindAddress: parseAddress('extender-bind-address', str('extender-bind-address')),
    extenderMaxBodyBytes: parseNumber('extender-max-body-bytes', str('extender-max-body-bytes'), { min: 1024, integer: true }),
    webhookBindAddress: parseAddress('webhook-bind-address', str('webhook-bind-address')),
    webhookNamespace: str('webhook-namespace') || env.POD_NAMESPACE || 'podgroup-system',
    webhookSecretName: str('webhook-secret-name'),
    webhookConfigName: str('webhook-config-name'),
    webhookCertDnsNames: list(str('webhook-cert-dns-names')),
    webhookCertIps: list(str('webhook-cert-ips')),
    webhookCertValidityMs: parseDuration('webhook-cert-validity', str('webhook-cert-validity')),
    webhookCertCheckIntervalMs: parseDuration('webhook-cert-check-interval', str('webhook-cert-check-interval')),
    logCollectorImage: str('log-collector-image'),
    gitSyncImage: str('git-sync-image'),
    dropManagedFields: bool('drop-managed-fields'),
    gracefulShutdownMs: parseDuration('graceful-shutdown-timeout', str('graceful-shutdown-timeout')),
    logLevel: logLevel as LogLevel,
    logFormat,
  };
  if (flags.leaderElect) {
    try {
      validateLeaseTimings(flags);
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  }
  return flags;
}
