// Every metric the process exports, defined once, under the names controller-runtime and
// client-go use so existing dashboards work. Edges add their own metrics here too.
import type { ServerResponse } from 'node:http';
import client from 'prom-client';
import type { QueueMetrics } from './workqueue.js';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

const reconcileBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10,
  15, 20, 25, 30, 40, 50, 60,
];
const queueBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];
const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// controller-runtime: reconciles
export const reconcileTotal = new client.Counter({
  name: 'controller_runtime_reconcile_total',
  help: 'Total number of reconciliations per controller',
  labelNames: ['controller', 'result'] as const,
  registers: [registry],
});
export const reconcileErrors = new client.Counter({
  name: 'controller_runtime_reconcile_errors_total',
  help: 'Total number of reconciliation errors per controller',
  labelNames: ['controller'] as const,
  registers: [registry],
});
export const reconcilePanics = new client.Counter({
  name: 'controller_runtime_reconcile_panics_total',
  help: 'Total number of reconciliations that threw something other than an Error',
  labelNames: ['controller'] as const,
  registers: [registry],
});
export const reconcileTime = new client.Histogram({
  name: 'controller_runtime_reconcile_time_seconds',
  help: 'Length of time per reconciliation per controller',
  labelNames: ['controller'] as const,
  buckets: reconcileBuckets,
  registers: [registry],
});
export const activeWorkers = new client.Gauge({
  name: 'controller_runtime_active_workers',
  help: 'Number of currently used workers per controller',
  labelNames: ['controller'] as const,
  registers: [registry],
});
export const maxConcurrentReconciles = new client.Gauge({
  name: 'controller_runtime_max_concurrent_reconciles',
  help: 'Maximum number of concurrent reconciles per controller',
  labelNames: ['controller'] as const,
  registers: [registry],
});

// client-go workqueue
const queueLabels = ['name', 'controller'] as const;
const workqueueDepth = new client.Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: queueLabels, registers: [registry] });
const workqueueAdds = new client.Counter({
  name: 'workqueue_adds_total',
  help: 'Total number of adds handled by workqueue',
  labelNames: queueLabels,
  registers: [registry],
});
const workqueueQueueDuration = new client.Histogram({
  name: 'workqueue_queue_duration_seconds',
  help: 'How long in seconds an item stays in workqueue before being requested',
  labelNames: queueLabels,
  buckets: queueBuckets,
  registers: [registry],
});
const workqueueWorkDuration = new client.Histogram({
  name: 'workqueue_work_duration_seconds',
  help: 'How long in seconds processing an item from workqueue takes',
  labelNames: queueLabels,
  buckets: queueBuckets,
  registers: [registry],
});
const workqueueUnfinished = new client.Gauge({
  name: 'workqueue_unfinished_work_seconds',
  help: 'How many seconds of work has been done that is in progress and has not been observed by work_duration',
  labelNames: queueLabels,
  registers: [registry],
});
const workqueueLongest = new client.Gauge({
  name: 'workqueue_longest_running_processor_seconds',
  help: 'How many seconds has the longest running processor for workqueue been running',
  labelNames: queueLabels,
  registers: [registry],
});
const workqueueRetries = new client.Counter({
  name: 'workqueue_retries_total',
  help: 'Total number of retries handled by workqueue',
  labelNames: queueLabels,
  registers: [registry],
});

export function queueMetrics(name: string): QueueMetrics {
  const labels = { name, controller: name };
  workqueueDepth.set(labels, 0);
  workqueueAdds.inc(labels, 0);
  workqueueRetries.inc(labels, 0);
  return {
    add: () => workqueueAdds.inc(labels),
    depth: (depth) => workqueueDepth.set(labels, depth),
    queued: (seconds) => workqueueQueueDuration.observe(labels, seconds),
    worked: (seconds) => workqueueWorkDuration.observe(labels, seconds),
    retry: () => workqueueRetries.inc(labels),
    setUnfinished: (total, longest) => {
      workqueueUnfinished.set(labels, total);
      workqueueLongest.set(labels, longest);
    },
  };
}

// client-go rest client
export const restClientRequests = new client.Counter({
  name: 'rest_client_requests_total',
  help: 'Number of HTTP requests, partitioned by status code, method, and host',
  labelNames: ['code', 'method', 'host'] as const,
  registers: [registry],
});
export const restClientLatency = new client.Histogram({
  name: 'rest_client_request_duration_seconds',
  help: 'Request latency in seconds, by verb and host',
  labelNames: ['verb', 'host'] as const,
  buckets: latencyBuckets,
  registers: [registry],
});

// informers (no client-go equivalent is exported by default; named after what they count)
export const informerRestarts = new client.Counter({
  name: 'podgroup_informer_restarts_total',
  help: 'Informer list/watch restarts, by resource and reason (error, stalled, expired: 410 Gone)',
  labelNames: ['resource', 'reason'] as const,
  registers: [registry],
});
export const informerSynced = new client.Gauge({
  name: 'podgroup_informer_synced',
  help: '1 once the informer has completed its first list',
  labelNames: ['resource'] as const,
  registers: [registry],
});
export const informerInitialLists = new client.Counter({
  name: 'podgroup_informer_initial_lists_total',
  help: 'Complete initial states an informer loaded (first sync and every relist), by resource and method (watch-list: a streamed WatchList; list: paginated LIST)',
  labelNames: ['resource', 'method'] as const,
  registers: [registry],
});

// leader election
export const leaderElectionStatus = new client.Gauge({
  name: 'leader_election_master_status',
  help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
  labelNames: ['name'] as const,
  registers: [registry],
});

// events
export const eventsEmitted = new client.Counter({
  name: 'podgroup_events_total',
  help: 'Kubernetes Events written, by type and whether they were new or aggregated into an existing Event',
  labelNames: ['type', 'action'] as const,
  registers: [registry],
});

// The one event loop answers the webhook, the extender, the probes and the Lease renewal: how late
// it runs is the delay every one of them adds. prom-client's nodejs_eventloop_lag_* gauges are reset
// by every scrape (two Prometheus replicas each see half); a histogram sums over any window.
export const eventLoopDelay = new client.Histogram({
  name: 'podgroup_event_loop_delay_seconds',
  help: 'How late the event loop ran a timer due every 100 ms (what any request or renewal waits before it is handled)',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

const EVENT_LOOP_SAMPLE_MS = 100;

/** Samples the event loop's delay into podgroup_event_loop_delay_seconds until the returned function is called. */
export function monitorEventLoopDelay(): () => void {
  let due = performance.now() + EVENT_LOOP_SAMPLE_MS;
  const timer = setInterval(() => {
    const now = performance.now();
    eventLoopDelay.observe(Math.max(0, now - due) / 1000);
    due = now + EVENT_LOOP_SAMPLE_MS;
  }, EVENT_LOOP_SAMPLE_MS);
  timer.unref();
  return () => clearInterval(timer);
}

export const unhandledRejections = new client.Counter({
  name: 'process_unhandled_rejections_total',
  help: 'Promise rejections nothing handled; logged and counted instead of ending the process (each is a bug)',
  registers: [registry],
});

// scheduler extender
export const extenderRequests = new client.Counter({
  name: 'podgroup_extender_requests_total',
  help: 'Scheduler extender requests, by verb (filter, prioritize, bind, unknown) and HTTP code',
  labelNames: ['verb', 'code'] as const,
  registers: [registry],
});
export const extenderLatency = new client.Histogram({
  name: 'podgroup_extender_request_duration_seconds',
  help: 'Scheduler extender request latency, by verb',
  labelNames: ['verb'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});
export const gangRejections = new client.Counter({
  name: 'podgroup_gang_rejections_total',
  help: 'Filter calls that failed every node because the PodGroup could not reach minAvailable',
  registers: [registry],
});

// admission webhook (controller-runtime names)
export const webhookRequests = new client.Counter({
  name: 'controller_runtime_webhook_requests_total',
  help: 'Total number of admission requests by HTTP status code',
  labelNames: ['webhook', 'code'] as const,
  registers: [registry],
});
export const webhookLatency = new client.Histogram({
  name: 'controller_runtime_webhook_latency_seconds',
  help: 'Histogram of the latency of processing admission requests',
  labelNames: ['webhook'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [registry],
});
export const webhookInFlight = new client.Gauge({
  name: 'controller_runtime_webhook_requests_in_flight',
  help: 'Current number of admission requests being served',
  labelNames: ['webhook'] as const,
  registers: [registry],
});
export const injections = new client.Counter({
  name: 'podgroup_sidecar_injections_total',
  help: 'Sidecars injected, by sidecar kind and mode (native or fallback)',
  labelNames: ['sidecar', 'mode'] as const,
  registers: [registry],
});
export const missedInjections = new client.Counter({
  name: 'podgroup_sidecar_missed_injections_total',
  help: 'Pods that asked for sidecars but were admitted without them (e.g. created while the webhook was unreachable)',
  registers: [registry],
});

/** Hooks run just before each scrape (e.g. to refresh gauges computed on demand). */
const beforeScrape = new Set<() => void>();

/** Registers a hook; the returned function unregisters it. */
export function onScrape(hook: () => void): () => void {
  beforeScrape.add(hook);
  return () => beforeScrape.delete(hook);
}

/**
 * Metric families rendered by their owner in the text exposition format (as pieces, in order),
 * appended to every scrape: for families of very many series (one per object) kept rendered
 * between scrapes, which the registry would rebuild and re-encode sample by sample each time.
 */
const renderedFamilies = new Set<() => Promise<string[]>>();

/** Registers a renderer; the returned function unregisters it. */
export function addRenderedFamilies(render: () => Promise<string[]>): () => void {
  renderedFamilies.add(render);
  return () => renderedFamilies.delete(render);
}

/**
 * The exposition as pieces to write one after another: joining tens of megabytes of per-object
 * series into one string would hold the event loop for as long as the copy takes.
 */
export async function scrape(): Promise<{ contentType: string; parts: string[] }> {
  for (const hook of beforeScrape) {
    hook();
  }
  const parts = [await registry.metrics()];
  for (const render of renderedFamilies) {
    parts.push(...(await render()));
  }
  return { contentType: registry.contentType, parts };
}

/** A scrape whose client stops reading for this long is dropped (with its buffered pieces). */
const SCRAPE_WRITE_IDLE_MS = 30_000;

/**
 * Answers a scrape with the exposition, one piece at a time as the socket takes them: writing
 * every piece at once would copy (and, over TLS, encrypt) the whole body in one turn of the loop.
 */
export async function sendScrape(res: ServerResponse): Promise<void> {
  let body: { contentType: string; parts: string[] };
  try {
    body = await scrape();
  } catch (err) {
    res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`collecting metrics failed: ${String(err)}\n`);
    return;
  }
  res.setTimeout(SCRAPE_WRITE_IDLE_MS);
  res.writeHead(200, { 'Content-Type': body.contentType });
  for (const part of body.parts) {
    if (res.destroyed) {
      return;
    }
    if (!res.write(part)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  res.end();
}
