// An EventRecorder writing core/v1 Events (what `kubectl describe` shows). A repeat of the same
// event (object, type, reason, message) within the aggregation window bumps count and
// lastTimestamp on the existing Event instead of creating a new one, and a token bucket per
// object and reason drops floods, as client-go's recorder does. Writing never blocks or fails the caller.
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { errorLogFields, isNotFound, PATCH_TYPE, type KubeClients } from './kube-client.js';
import type { Logger } from './logging.js';
import { eventsEmitted } from './metrics.js';
import { TokenBucket } from './rate-limiter.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  event(obj: k8s.KubernetesObject, type: EventType, reason: string, message: string): void;
}

interface Aggregate {
  namespace: string;
  name: string;
  count: number;
  lastWrite: number;
}

const AGGREGATION_WINDOW_MS = 10 * 60_000;
const MAX_AGGREGATES = 4096;
const MAX_MESSAGE = 1024;
const SPAM_BURST = 25;
const SPAM_QPS = 1 / 5;

const eventsPath = (namespace: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;

export class ApiEventRecorder implements EventRecorder {
  private readonly aggregates = new Map<string, Aggregate>();
  private readonly buckets = new Map<string, TokenBucket>();
  /** Writes for one aggregate key run one after another so a repeat never races its create. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly host = process.env.HOSTNAME ?? '';

  constructor(
    private readonly clients: KubeClients,
    private readonly component: string,
    private readonly log: Logger,
  ) {}

  event(obj: k8s.KubernetesObject, type: EventType, reason: string, message: string): void {
    const meta = obj.metadata ?? {};
    const objectId = meta.uid ?? `${meta.namespace ?? ''}/${meta.name ?? ''}`;
    // Per object and reason, so a flood of one kind never silences a different warning.
    if (!this.allow(`${objectId}|${reason}`)) {
      eventsEmitted.inc({ type, action: 'dropped' });
      return;
    }
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const key = `${objectId}|${type}|${reason}|${text}`;
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => this.write(key, obj, type, reason, text))
      .catch((err: unknown) => {
        this.log.warn('could not write event', { reason, ...errorLogFields(err) });
      })
      .finally(() => {
        if (this.chains.get(key) === next) {
          this.chains.delete(key);
        }
      });
    this.chains.set(key, next);
  }

  /** Resolves when every event written so far has reached the API server (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  private allow(bucketKey: string): boolean {
    let bucket = this.buckets.get(bucketKey);
    if (bucket === undefined) {
      if (this.buckets.size >= MAX_AGGREGATES) {
        this.buckets.clear();
      }
      bucket = new TokenBucket(SPAM_QPS, SPAM_BURST);
      this.buckets.set(bucketKey, bucket);
    }
    return bucket.tryTake();
  }

  private async write(key: string, obj: k8s.KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date();
    const existing = this.aggregates.get(key);
    if (existing !== undefined && Date.now() - existing.lastWrite < AGGREGATION_WINDOW_MS) {
      try {
        await this.clients.requestOutcome('PATCH', `${eventsPath(existing.namespace)}/${encodeURIComponent(existing.name)}`, {
          body: { count: existing.count + 1, lastTimestamp: now },
          contentType: PATCH_TYPE.merge,
        });
        existing.count += 1;
        existing.lastWrite = Date.now();
        eventsEmitted.inc({ type, action: 'aggregated' });
        return;
      } catch (err) {
        if (!isNotFound(err)) {
          throw err;
        }
        // The Event expired (TTL) or was deleted: write a new one.
      }
    }
    const meta = obj.metadata ?? {};
    const namespace = meta.namespace ?? 'default';
    const name = `${meta.name ?? 'object'}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
    const event: k8s.CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.component, host: this.host },
      reportingComponent: this.component,
      reportingInstance: this.host || this.component,
    };
    await this.clients.requestOutcome('POST', eventsPath(namespace), { body: event });
    if (this.aggregates.size >= MAX_AGGREGATES) {
      // Oldest first: Map iteration order is insertion order.
      const oldest = this.aggregates.keys().next().value;
      if (oldest !== undefined) {
        this.aggregates.delete(oldest);
      }
    }
    this.aggregates.set(key, { namespace, name, count: 1, lastWrite: Date.now() });
    eventsEmitted.inc({ type, action: 'created' });
  }
}
