// The manager owns what every controller and edge in the process shares: API clients, shared
// informers, the event recorder, leader election, and the metrics and probe servers.
//
// Start order: servers → informers (caches warm even on standbys) → runnables that need no
// leadership (webhook, extender) → leader election → controllers and leader-only runnables.
// stop(): controllers drain (with a deadline), runnables stop, the Lease is released so a
// standby takes over at once, informers and servers close.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type * as k8s from '@kubernetes/client-node';
import { createCertificateAuthority, issueCertificate } from './certificates.js';
import type { Controller } from './controller.js';
import {
  close,
  listen,
  readCertDir,
  SMALL_REQUEST_LIMITS,
  updateTls,
  watchCertDir,
  type ListenAddress,
  type ServerLimits,
  type ServerTls,
} from './http-server.js';
import { ApiEventRecorder } from './events.js';
import { errorLogFields, KubeClients, type ClientOptions } from './kube-client.js';
import { LeaderElector, type LeaderElectionConfig } from './leader-election.js';
import type { Logger } from './logging.js';
import type { InitialListMethod } from './informer.js';
import { monitorEventLoopDelay, sendScrape, unhandledRejections } from './metrics.js';
import { apiReviewClient, MetricsAuthorizer } from './metrics-auth.js';
import { SharedInformers, type SharedInformerDefaults } from './shared-informers.js';

/**
 * Keeps the process alive through a promise rejection nothing handled (Node's default ends
 * the process, and with it every controller and webhook it hosts): logs it and counts it in
 * process_unhandled_rejections_total. Returns a function that removes the guard.
 */
export function guardUnhandledRejections(log: Logger): () => void {
  const onRejection = (reason: unknown): void => {
    unhandledRejections.inc();
    log.error('unhandled promise rejection (a bug: please report it)', { error: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) });
  };
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('unhandledRejection', onRejection);
  };
}

export interface Runnable {
  name: string;
  /** Leader-only runnables start when this process becomes leader. */
  needLeaderElection: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type { ListenAddress } from './http-server.js';

/** Connection cap and timeouts every server of the process gets. */
export type ConnectionLimits = Pick<ServerLimits, 'maxConnections' | 'requestTimeoutMs' | 'headersTimeoutMs'>;

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { maxConnections: 1024, requestTimeoutMs: 10_000, headersTimeoutMs: 5_000 };

export interface ManagerOptions {
  kubeConfig: k8s.KubeConfig;
  client: ClientOptions;
  logger: Logger;
  /** undefined disables the server. */
  metricsAddress?: ListenAddress;
  /**
   * true: /metrics over HTTPS, for callers whose bearer token passes a TokenReview and a
   * SubjectAccessReview (get /metrics). false (the library default; the binary defaults to true):
   * plain HTTP for anyone.
   */
  metricsSecure?: boolean;
  /** tls.crt and tls.key for the secure metrics server; default: self-signed at start. */
  metricsCertDir?: string;
  probeAddress?: ListenAddress;
  connectionLimits?: ConnectionLimits;
  leaderElection?: LeaderElectionConfig;
  /** 'exit' ends the process (a fresh one re-joins cleanly, as controller-runtime does); 'stop' only stops leader work. */
  onLostLeadership?: 'exit' | 'stop';
  gracefulShutdownMs?: number;
  dropManagedFields?: boolean;
  /** What the caches keep of each kind's objects (SharedInformerDefaults.projections). */
  cacheProjections?: SharedInformerDefaults['projections'];
  informerStallTimeoutMs?: number;
  /** How informers load the initial state (InformerOptions.initialList). Default: watch-list. */
  informerInitialList?: InitialListMethod;
  /** Watch namespaced kinds only in these namespaces (SharedInformerDefaults.namespaces). Default: all. */
  namespaces?: string[];
  eventComponent: string;
}

type Check = () => string | undefined;

export class Manager {
  readonly clients: KubeClients;
  readonly informers: SharedInformers;
  readonly events: ApiEventRecorder;
  readonly log: Logger;
  private readonly controllers: Controller[] = [];
  private readonly runnables: Runnable[] = [];
  private readonly readyChecks = new Map<string, Check>();
  private readonly healthChecks = new Map<string, Check>();
  private readonly elector: LeaderElector | undefined;
  private metricsServer: Server | undefined;
  private probeServer: Server | undefined;
  private metricsAuth: MetricsAuthorizer | undefined;
  private stopMetricsCertWatch: (() => void) | undefined;
  private stopEventLoopMonitor: (() => void) | undefined;
  private leaderWorkRunning = false;
  private stopping: Promise<void> | undefined;
  /** Aborted on stop(): ends a wait for cache sync that has not finished. */
  private readonly stopSignal = new AbortController();

  constructor(private readonly options: ManagerOptions) {
    this.log = options.logger;
    this.clients = new KubeClients(options.kubeConfig, options.client);
    this.informers = new SharedInformers({
      dropManagedFields: options.dropManagedFields ?? true,
      projections: options.cacheProjections,
      stallTimeoutMs: options.informerStallTimeoutMs,
      initialList: options.informerInitialList,
      logger: options.logger,
      namespaces: options.namespaces,
    });
    this.events = new ApiEventRecorder(this.clients, options.eventComponent, options.logger);
    if (options.leaderElection !== undefined) {
      this.elector = new LeaderElector(this.clients, options.leaderElection, options.logger);
    }
    this.readyChecks.set('informers', () => {
      const unsynced = this.informers.unsynced();
      return unsynced.length === 0 ? undefined : `not synced: ${unsynced.join(', ')}`;
    });
    this.healthChecks.set('ping', () => undefined);
  }

  get metricsPort(): number | undefined {
    return (this.metricsServer?.address() as AddressInfo | null)?.port;
  }

  get probePort(): number | undefined {
    return (this.probeServer?.address() as AddressInfo | null)?.port;
  }

  isLeader(): boolean {
    return this.elector === undefined ? this.leaderWorkRunning : this.elector.isLeader();
  }

  addController(controller: Controller): void {
    this.controllers.push(controller);
  }

  addRunnable(runnable: Runnable): void {
    this.runnables.push(runnable);
  }

  /** A readiness check returns undefined when ready, or why not. */
  addReadyCheck(name: string, check: Check): void {
    this.readyChecks.set(name, check);
  }

  addHealthCheck(name: string, check: Check): void {
    this.healthChecks.set(name, check);
  }

  get connectionLimits(): ConnectionLimits {
    return this.options.connectionLimits ?? DEFAULT_CONNECTION_LIMITS;
  }

  async start(): Promise<void> {
    this.stopEventLoopMonitor ??= monitorEventLoopDelay();
    const limits = { ...this.connectionLimits, ...SMALL_REQUEST_LIMITS };
    if (this.options.metricsAddress !== undefined) {
      const secure = this.options.metricsSecure === true;
      let tls: ServerTls | undefined;
      if (secure) {
        this.metricsAuth = new MetricsAuthorizer(apiReviewClient(this.clients));
        tls = await this.metricsTls();
      }
      this.metricsServer = await listen('metrics', this.options.metricsAddress, limits, (req, res) => this.serveMetrics(req, res), tls);
      this.watchMetricsCertDir();
      this.log.info('serving metrics', { address: `${this.options.metricsAddress.host}:${this.metricsPort}`, secure });
    }
    if (this.options.probeAddress !== undefined) {
      this.probeServer = await listen('health probes', this.options.probeAddress, limits, (req, res) => this.serveProbes(req, res));
      this.log.info('serving health probes', { address: `${this.options.probeAddress.host}:${this.probePort}` });
    }
    this.informers.start();
    for (const runnable of this.runnables.filter((r) => !r.needLeaderElection)) {
      await runnable.start();
    }
    if (this.elector === undefined) {
      this.startLeaderWork();
      return;
    }
    this.elector.run({
      onStartedLeading: () => this.startLeaderWork(),
      onStoppedLeading: () => this.onLostLeadership(),
    });
  }

  /** Graceful shutdown; safe to call more than once. */
  stop(): Promise<void> {
    this.stopSignal.abort();
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private startLeaderWork(): void {
    if (this.leaderWorkRunning || this.stopping !== undefined) {
      return;
    }
    this.leaderWorkRunning = true;
    void (async () => {
      // Controllers act on caches: wait for them, unless we are shut down first.
      try {
        await this.informers.waitForSync(this.stopSignal.signal);
      } catch {
        return;
      }
      if (!this.leaderWorkRunning) {
        return;
      }
      for (const controller of this.controllers) {
        controller.start();
      }
      for (const runnable of this.runnables.filter((r) => r.needLeaderElection)) {
        await runnable.start();
      }
    })().catch((err: unknown) => this.log.error('starting leader work failed', errorLogFields(err)));
  }

  private async stopLeaderWork(): Promise<void> {
    if (!this.leaderWorkRunning) {
      return;
    }
    this.leaderWorkRunning = false;
    const deadline = this.options.gracefulShutdownMs ?? 30_000;
    await Promise.all(this.controllers.map((c) => c.stop(deadline)));
    await Promise.all(this.runnables.filter((r) => r.needLeaderElection).map((r) => r.stop()));
  }

  private onLostLeadership(): void {
    if (this.stopping !== undefined) {
      return;
    }
    if ((this.options.onLostLeadership ?? 'exit') === 'exit') {
      // Another process may already lead: stop acting at once and let a fresh process re-join.
      this.log.error('leader election lost; exiting');
      process.exit(1);
    }
    void this.stopLeaderWork();
  }

  private async shutdown(): Promise<void> {
    this.log.info('shutting down');
    await this.stopLeaderWork();
    await this.events.flush();
    await this.elector?.stop();
    await Promise.all(this.runnables.filter((r) => !r.needLeaderElection).map((r) => r.stop()));
    await this.informers.stop();
    this.stopMetricsCertWatch?.();
    await Promise.all([close(this.metricsServer), close(this.probeServer)]);
    this.clients.close();
    this.stopEventLoopMonitor?.();
    this.log.info('shutdown complete');
  }

  /** From --metrics-cert-dir, else a self-signed certificate (as controller-runtime makes). */
  private async metricsTls(): Promise<ServerTls> {
    if (this.options.metricsCertDir !== undefined) {
      return readCertDir(this.options.metricsCertDir);
    }
    const year = 365 * 24 * 3600 * 1000;
    const ca = await createCertificateAuthority('podgroup-metrics-self-signed', year);
    const cert = await issueCertificate(ca, {
      commonName: hostname(),
      dnsNames: [hostname(), 'localhost'],
      ipAddresses: ['127.0.0.1'],
      usages: ['server'],
      validForMs: year,
    });
    return { certPem: cert.certPem, keyPem: cert.keyPem };
  }

  /** A certificate from --metrics-cert-dir is picked up again when its Secret is renewed. */
  private watchMetricsCertDir(): void {
    const dir = this.options.metricsCertDir;
    const server = this.metricsServer;
    if (dir === undefined || server === undefined || this.options.metricsSecure !== true) {
      return;
    }
    this.stopMetricsCertWatch = watchCertDir(
      dir,
      60_000,
      (tls) => {
        updateTls(server, tls);
        this.log.info('reloaded the metrics certificate', { dir });
      },
      (err) => this.log.warn('could not reload the metrics certificate', { dir, ...errorLogFields(err) }),
    );
  }

  private serveMetrics(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: metrics are served at /metrics\n');
      return;
    }
    if (this.metricsAuth === undefined) {
      this.sendMetrics(res);
      return;
    }
    this.metricsAuth.check(req.headers.authorization, '/metrics').then(
      (decision) => {
        if (decision.allowed) {
          this.sendMetrics(res);
        } else {
          res.writeHead(decision.status, { 'Content-Type': 'text/plain' }).end(`${decision.message}\n`);
        }
      },
      (err: unknown) => {
        this.log.warn('metrics authorization failed', errorLogFields(err));
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('Internal Server Error: authorization failed\n');
      },
    );
  }

  private sendMetrics(res: ServerResponse): void {
    sendScrape(res).catch((err: unknown) => this.log.warn('answering a scrape failed', errorLogFields(err)));
  }

  private serveProbes(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const checks = path === '/readyz' ? this.readyChecks : path === '/healthz' || path === '/livez' ? this.healthChecks : undefined;
    if (checks === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: probes are /healthz and /readyz\n');
      return;
    }
    // controller-runtime's format: one line per check, then the verdict.
    const lines: string[] = [];
    let ok = true;
    for (const [name, check] of checks) {
      const problem = check();
      lines.push(problem === undefined ? `[+]${name} ok` : `[-]${name} failed: ${problem}`);
      ok &&= problem === undefined;
    }
    lines.push(ok ? `${path.slice(1)} check passed` : `${path.slice(1)} check failed`);
    res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain' }).end(`${lines.join('\n')}\n`);
  }
}
