import { describe, expect, it } from '@jest/globals';
import { UsageError } from '../../src/cli-args.js';
import { parseAddress, parseDuration, parseFlags } from '../../src/flags.js';

describe('manager flags', () => {
  it('has controller-runtime defaults', () => {
    const flags = parseFlags([], {});
    expect(flags).toMatchObject({
      metricsBindAddress: { host: '0.0.0.0', port: 8443 },
      metricsSecure: true,
      kubeApiTimeoutMs: 30_000,
      serverMaxConnections: 1024,
      serverRequestTimeoutMs: 10_000,
      serverHeadersTimeoutMs: 5_000,
      webhookMaxBodyBytes: 7 * 1024 * 1024,
      extenderSchedulerNames: ['podgroup-scheduler'],
      extenderClientName: 'podgroup-scheduler',
      extenderSecretNamespace: 'podgroup-system',
      healthProbeBindAddress: { host: '0.0.0.0', port: 8081 },
      leaderElect: false,
      leaderElectionNamespace: 'kube-system',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      logLevel: 'info',
      logFormat: 'json',
      dropManagedFields: true,
      informerInitialList: 'watch-list',
    });
  });

  it('parses values and the pod namespace', () => {
    const flags = parseFlags(
      ['--leader-elect', '--kube-api-qps=-1', '--metrics-bind-address', '127.0.0.1:0', '--no-drop-managed-fields', '--log-format', 'text'],
      { POD_NAMESPACE: 'ops' },
    );
    expect(flags).toMatchObject({
      leaderElect: true,
      kubeApiQps: -1,
      metricsBindAddress: { host: '127.0.0.1', port: 0 },
      leaderElectionNamespace: 'ops',
      dropManagedFields: false,
      logFormat: 'text',
    });
    expect(parseFlags(['--metrics-bind-address=0'], {})).toMatchObject({ metricsBindAddress: undefined });
    expect(parseFlags(['--help'], {})).toBe('help');
    expect(parseFlags(['--metrics-secure=false'], {})).toMatchObject({ metricsSecure: false });
    expect(parseFlags(['--leader-elect=true'], {})).toMatchObject({ leaderElect: true });
    expect(parseFlags(['--informer-initial-list=list'], {})).toMatchObject({ informerInitialList: 'list' });
  });

  it.each([
    [['--log-level=loud'], '--log-level: "loud" is not one of error, warn, info, debug'],
    [['--kube-api-burst=0'], '--kube-api-burst: "0" must be an integer >= 1'],
    [['--leader-elect-lease-duration=soon'], 'is not a duration'],
    [['--metrics-bind-address=localhost'], 'is not HOST:PORT, :PORT or 0'],
    [['--leader-elect', '--leader-elect-lease-duration=5s', '--leader-elect-renew-deadline=10s'], 'lease duration must be greater than the renew deadline'],
    [['--bogus'], 'unknown flag --bogus'],
    [['--informer-initial-list=stream'], '--informer-initial-list: "stream" is not watch-list or list'],
    [['--kube-api-qps'], 'flag --kube-api-qps needs a value'],
    [['--kube-api-timeout=0s'], '--kube-api-timeout: must be greater than 0'],
    [['--extender-scheduler-names='], '--extender-scheduler-names: name at least one scheduler'],
    [['--server-headers-timeout=20s', '--server-request-timeout=10s'], '--server-headers-timeout must not exceed --server-request-timeout'],
  ])('rejects %j with a clear message', (argv, message) => {
    expect(() => parseFlags(argv, {})).toThrow(UsageError);
    expect(() => parseFlags(argv, {})).toThrow(message);
  });

  it('parses Go durations and addresses', () => {
    expect(parseDuration('x', '1m30s')).toBe(90_000);
    expect(parseDuration('x', '250ms')).toBe(250);
    expect(parseAddress('x', '[::1]:9090')).toEqual({ host: '::1', port: 9090 });
  });
});

describe('--watch-namespaces', () => {
  it('defaults to every namespace and takes a comma-separated list', () => {
    expect((parseFlags([], {}) as { watchNamespaces: unknown }).watchNamespaces).toBeUndefined();
    expect((parseFlags(['--watch-namespaces', 'team-a, team-b'], {}) as { watchNamespaces: unknown }).watchNamespaces).toEqual(['team-a', 'team-b']);
  });

  it('refuses what is not a namespace name, and an empty list', () => {
    expect(() => parseFlags(['--watch-namespaces', 'Team_A'], {})).toThrow('--watch-namespaces: "Team_A" is not a namespace name');
    expect(() => parseFlags(['--watch-namespaces', ' , '], {})).toThrow('--watch-namespaces: name at least one namespace');
  });
});
