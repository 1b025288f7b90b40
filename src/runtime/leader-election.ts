// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm:
//  - a candidate takes the Lease when it is absent, released (no holder), or its holder has
//    not renewed for leaseDuration as measured by *our* clock since we last saw it change
//    (so clock skew between machines does not matter);
//  - the leader renews every retryPeriod; if no renew succeeds for renewDeadline it stops
//    leading (renewDeadline < leaseDuration, so it stops before anyone else may take over).
//    Each attempt's requests are aborted at that deadline and a timer ends leadership at it even
//    if an attempt never returns (a black-holed connection), so the deadline holds regardless;
//  - every write is an optimistic-concurrency replace, so two candidates never both win;
//  - release() empties holderIdentity so a standby takes over at its next retry.
import * as k8s from '@kubernetes/client-node';
import { describeError, isConflict, isNotFound, withAbortSignal, type KubeClients } from './kube-client.js';
import type { Logger } from './logging.js';
import { leaderElectionStatus } from './metrics.js';
import { timerDelay } from './timers.js';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
}

export function validateLeaseTimings(c: Pick<LeaderElectionConfig, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>): void {
  if (!(c.leaseDurationMs > c.renewDeadlineMs)) {
    throw new Error('leader election: lease duration must be greater than the renew deadline');
  }
  if (!(c.renewDeadlineMs > c.retryPeriodMs * 1.2)) {
    throw new Error('leader election: renew deadline must be greater than 1.2 × retry period');
  }
  if (c.retryPeriodMs < 1) {
    throw new Error('leader election: retry period must be positive');
  }
}

const micro = (d: Date): k8s.V1MicroTime => new k8s.V1MicroTime(d.getTime());

export class LeaderElector {
  private readonly coordination: k8s.CoordinationV1Api;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The lease record as last seen, and when (our clock) it last changed. */
  private observed: { holder: string; renewTime: string; at: number } | undefined;
  private lastRenew = 0;
  private knownLeader = '';
  private callbacks: LeaderCallbacks | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  /** Fires at lastRenew + renewDeadline while leading. */
  private deadlineTimer: NodeJS.Timeout | undefined;

  constructor(
    clients: KubeClients,
    private readonly config: LeaderElectionConfig,
    private readonly log: Logger,
    private readonly now: () => number = () => Date.now(),
  ) {
    validateLeaseTimings(config);
    this.coordination = clients.api(k8s.CoordinationV1Api);
    leaderElectionStatus.set({ name: config.name }, 0);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns in the background until stop(); callbacks fire on every transition. */
  run(callbacks: LeaderCallbacks): void {
    this.callbacks = callbacks;
    this.schedule(0);
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadlineTimer);
    await this.inFlight;
    if (this.leading) {
      await this.release();
      this.setLeading(false);
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) {
      return;
    }
    this.timer = setTimeout(() => {
      this.inFlight = this.tick().finally(() => {
        const jitter = this.leading ? 1 : 1 + Math.random() * 0.2;
        this.schedule(this.config.retryPeriodMs * jitter);
      });
    }, timerDelay(delayMs));
  }

  private async tick(): Promise<void> {
    const attemptStarted = this.now();
    // A leader's attempt may run until its renew deadline; a candidate's for as long.
    const budgetMs = this.leading ? this.lastRenew + this.config.renewDeadlineMs - attemptStarted : this.config.renewDeadlineMs;
    let ok = false;
    try {
      ok = await withAbortSignal(AbortSignal.timeout(Math.max(1, budgetMs)), () => this.tryAcquireOrRenew());
    } catch (err) {
      this.log.warn('leader election: lease request failed', { lease: this.leaseName(), error: describeError(err) });
    }
    if (this.stopped) {
      return;
    }
    if (ok) {
      // From when the attempt started: the API server's renewTime is no earlier than that.
      this.lastRenew = attemptStarted;
      if (!this.leading) {
        this.log.info('leader election: acquired lease', { lease: this.leaseName(), identity: this.config.identity });
        this.setLeading(true);
      }
      this.armDeadline();
    } else {
      this.checkDeadline();
    }
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    if (this.leading) {
      this.deadlineTimer = setTimeout(
        () => {
          this.checkDeadline();
          this.armDeadline();
        },
        Math.max(1, this.lastRenew + this.config.renewDeadlineMs - this.now()),
      );
    }
  }

  private checkDeadline(): void {
    if (this.leading && !this.stopped && this.now() - this.lastRenew >= this.config.renewDeadlineMs) {
      clearTimeout(this.deadlineTimer);
      this.log.error('leader election: lost lease (renew deadline exceeded)', { lease: this.leaseName(), sinceLastRenewMs: this.now() - this.lastRenew });
      this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading) {
      return;
    }
    this.leading = leading;
    leaderElectionStatus.set({ name: this.config.name }, leading ? 1 : 0);
    if (leading) {
      this.callbacks?.onStartedLeading();
    } else {
      this.callbacks?.onStoppedLeading();
    }
  }

  private leaseName(): string {
    return `${this.config.namespace}/${this.config.name}`;
  }

  private spec(now: Date, previous: k8s.V1LeaseSpec | undefined): k8s.V1LeaseSpec {
    const renewing = previous?.holderIdentity === this.config.identity;
    return {
      holderIdentity: this.config.identity,
      leaseDurationSeconds: Math.ceil(this.config.leaseDurationMs / 1000),
      acquireTime: renewing && previous?.acquireTime ? micro(new Date(previous.acquireTime)) : micro(now),
      renewTime: micro(now),
      leaseTransitions: renewing ? (previous?.leaseTransitions ?? 0) : (previous?.leaseTransitions ?? -1) + 1,
    };
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.config;
    const now = new Date(this.now());
    let lease: k8s.V1Lease;
    try {
      lease = await this.coordination.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        throw err;
      }
      try {
        await this.coordination.createNamespacedLease({
          namespace,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: this.spec(now, undefined) },
        });
        this.noteLeader(this.config.identity);
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) {
          return false;
        }
        throw createErr;
      }
    }

    const holder = lease.spec?.holderIdentity ?? '';
    const renewTime = lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : '';
    if (this.observed === undefined || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: this.now() };
    }
    this.noteLeader(holder);
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== '' && holder !== this.config.identity && this.observed.at + durationMs > this.now()) {
      return false;
    }
    try {
      await this.coordination.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: this.spec(now, lease.spec) },
      });
    } catch (err) {
      if (isConflict(err)) {
        return false;
      }
      throw err;
    }
    this.observed = { holder: this.config.identity, renewTime: now.toISOString(), at: this.now() };
    this.noteLeader(this.config.identity);
    return true;
  }

  private async release(): Promise<void> {
    const { namespace, name } = this.config;
    try {
      const lease = await this.coordination.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.config.identity) {
        return;
      }
      const now = micro(new Date(this.now()));
      await this.coordination.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
        },
      });
      this.log.info('leader election: released lease', { lease: this.leaseName() });
    } catch (err) {
      this.log.warn('leader election: could not release lease', { lease: this.leaseName(), error: describeError(err) });
    }
  }

  private noteLeader(identity: string): void {
    if (identity !== this.knownLeader) {
      this.knownLeader = identity;
      if (identity !== '') {
        this.log.info('leader election: new leader observed', { lease: this.leaseName(), leader: identity });
        this.callbacks?.onNewLeader?.(identity);
      }
    }
  }
}
