// The scheduler-extender edge: an HTTP server for kube-scheduler's filter, prioritize and bind
// verbs. PodGroup members get gang feasibility, maxPerNode and Spread/Pack scores; other pods
// pass through untouched. Because it also binds, it knows every placement the moment it is
// made, so its accounting never waits for the informer (bindings are remembered until seen).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, podGroupOwnerOf, VERSION, type PodGroup } from '../api/podgroup.js';
import type { Informer } from '../runtime/informer.js';
import { errorMessage, type KubeClients } from '../runtime/kube-client.js';
import type { Logger } from '../runtime/logging.js';
import type { ListenAddress, Manager, Runnable } from '../runtime/manager.js';
import { extenderLatency, extenderRequests, gangRejections } from '../runtime/metrics.js';
import { customResource, nodeResource, podResource } from '../runtime/resources.js';
import { BY_CONTROLLER_UID, objectKey } from '../runtime/store.js';
import { filterForGang, type NodeView } from './gang.js';
import { nodeAllocatable, podRequests, sum, type Resources } from './resources.js';
import { score } from './scoring.js';
import {
  checkBindingArgs,
  checkExtenderArgs,
  type ExtenderArgs,
  type ExtenderBindingArgs,
  type ExtenderBindingResult,
  type ExtenderFilterResult,
  type HostPriority,
} from './wire.js';

export interface ExtenderOptions {
  address: ListenAddress;
  maxBodyBytes: number;
}

const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** Bindings we made stay counted until the informer shows them, or this long at most. */
const BINDING_MEMORY_MS = 60_000;
/**
 * kube-scheduler binds in the background while it already filters the next pod, so a member
 * scored a moment ago may be about to bind. Filter and prioritize of the same PodGroup wait (at
 * most this long) for those binds, so counts per node never miss an in-flight placement.
 */
const IN_FLIGHT_WAIT_MS = 1000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Binding {
  node: string;
  requests: Resources;
  ownerUid: string | undefined;
  at: number;
}

export class SchedulerExtender implements Runnable {
  readonly name = 'scheduler-extender';
  readonly needLeaderElection = false;
  private server: Server | undefined;
  private readonly core: k8s.CoreV1Api;
  private readonly log: Logger;
  /** Pods we bound whose binding the pod informer may not show yet: pod key → binding. */
  private readonly bindings = new Map<string, Binding>();
  /**
   * The pod as the scheduler last sent it to filter: bind only gets its name, and the pod
   * informer may not have the pod yet, but its owner and requests must be counted at once.
   */
  private readonly candidates = new Map<string, k8s.V1Pod>();
  /** Members that passed filter whose bind has not arrived: pod key → PodGroup UID, when. */
  private readonly inFlight = new Map<string, { groupUid: string; at: number }>();
  private readonly bindWaiters = new Set<() => void>();

  constructor(
    clients: KubeClients,
    logger: Logger,
    private readonly pods: Informer<k8s.V1Pod>,
    private readonly nodes: Informer<k8s.V1Node>,
    private readonly podGroups: Informer<PodGroup>,
    private readonly options: ExtenderOptions,
  ) {
    this.core = clients.api(k8s.CoreV1Api);
    this.log = logger.child({ component: 'scheduler-extender' });
  }

  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(): Promise<void> {
    const { host, port } = this.options.address;
    this.server = await new Promise<Server>((resolve, reject) => {
      const server = createServer((req, res) => void this.handle(req, res));
      server.once('error', (err) => reject(new Error(`scheduler extender cannot listen on ${host}:${port}: ${err.message}`)));
      server.listen(port, host, () => resolve(server));
    });
    this.log.info('serving scheduler extender', { address: `${host}:${this.port}` });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const verb = (req.url ?? '').split('?')[0]?.replace(/^\/+/, '').split('/').pop() ?? '';
    const known = verb === 'filter' || verb === 'prioritize' || verb === 'bind';
    const label = known ? verb : 'unknown';
    const end = extenderLatency.startTimer({ verb: label });
    let status = 200;
    let body: unknown;
    try {
      if (!known) {
        throw new HttpError(404, `unknown extender verb ${JSON.stringify(verb)}: use /filter, /prioritize or /bind`);
      }
      if (req.method !== 'POST') {
        throw new HttpError(405, `${req.method} not allowed: extender verbs take POST`);
      }
      const parsed = await readJson(req, this.options.maxBodyBytes);
      body = verb === 'bind' ? await this.bind(parsed) : verb === 'filter' ? await this.filter(parsed) : await this.prioritize(parsed);
    } catch (err) {
      status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      body = verb === 'prioritize' ? { Error: message } : { Error: message, FailedNodes: {}, FailedAndUnresolvableNodes: {} };
      if (status >= 500) {
        this.log.error('extender request failed', { verb, error: message });
      }
    }
    extenderRequests.inc({ verb: label, code: String(status) });
    end();
    if (!res.headersSent) {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    }
  }

  private async filter(raw: unknown): Promise<ExtenderFilterResult> {
    const problem = checkExtenderArgs(raw);
    if (problem !== undefined) {
      throw new HttpError(400, problem);
    }
    const args = raw as ExtenderArgs;
    const cacheCapable = args.NodeNames != null;
    await this.awaitInFlightBinds(args.Pod);
    const { views, unknown } = this.nodeViews(args);
    const result = (passed: string[], failed: Record<string, string>, error = ''): ExtenderFilterResult => ({
      ...(cacheCapable
        ? { NodeNames: passed }
        : { Nodes: { items: (args.Nodes?.items ?? []).filter((n) => passed.includes(n.metadata?.name ?? '')) } }),
      FailedNodes: { ...failed, ...unknown },
      FailedAndUnresolvableNodes: {},
      Error: error,
    });
    const group = this.groupOf(args.Pod);
    const podKey = keyOf(args.Pod);
    this.candidates.set(podKey, args.Pod);
    if (group === undefined) {
      return result(views.map((v) => v.name), {});
    }
    const members = this.memberViews(group, podKey, views);
    const verdict = filterForGang({
      group: objectKey(group),
      minAvailable: group.spec.minAvailable,
      maxPerNode: group.spec.placement?.maxPerNode,
      bound: members.bound,
      request: podRequests(args.Pod),
      nodes: members.views,
    });
    if (verdict.gangMessage !== undefined) {
      gangRejections.inc();
      this.log.info('gang cannot be placed yet', { pod: podKey, podGroup: objectKey(group), reason: verdict.gangMessage });
      return result([], verdict.failed);
    }
    if (verdict.passed.length > 0) {
      // With one feasible node the scheduler skips prioritize and binds at once.
      this.inFlight.set(podKey, { groupUid: group.metadata?.uid ?? '', at: Date.now() });
    }
    this.log.debug('filter', { pod: podKey, passed: verdict.passed.length, failed: Object.keys(verdict.failed).length });
    return result(verdict.passed, verdict.failed);
  }

  private async prioritize(raw: unknown): Promise<HostPriority[]> {
    const problem = checkExtenderArgs(raw);
    if (problem !== undefined) {
      throw new HttpError(400, problem);
    }
    const args = raw as ExtenderArgs;
    await this.awaitInFlightBinds(args.Pod);
    const { views } = this.nodeViews(args);
    const group = this.groupOf(args.Pod);
    if (group === undefined) {
      return views.map((v) => ({ Host: v.name, Score: 0 }));
    }
    const podKey = keyOf(args.Pod);
    const { views: withMembers, zoneMembers } = this.memberViews(group, podKey, views);
    this.inFlight.set(podKey, { groupUid: group.metadata?.uid ?? '', at: Date.now() });
    return score(group.spec.placement?.policy ?? 'Spread', withMembers, zoneMembers);
  }

  /** Waits until other members of the pod's PodGroup that were just scored have been bound. */
  private async awaitInFlightBinds(pod: k8s.V1Pod): Promise<void> {
    const group = this.groupOf(pod);
    if (group === undefined) {
      return;
    }
    const uid = group.metadata?.uid ?? '';
    const podKey = keyOf(pod);
    const deadline = Date.now() + IN_FLIGHT_WAIT_MS;
    for (;;) {
      const now = Date.now();
      let waiting = false;
      for (const [key, entry] of this.inFlight) {
        if (now - entry.at > IN_FLIGHT_WAIT_MS || this.pods.store.get(key)?.spec?.nodeName) {
          // Scheduled elsewhere, failed after scoring, or bound by someone else.
          this.inFlight.delete(key);
        } else if (entry.groupUid === uid && key !== podKey) {
          waiting = true;
        }
      }
      if (!waiting || now >= deadline) {
        return;
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.bindWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, 25);
        this.bindWaiters.add(wake);
      });
    }
  }

  private async bind(raw: unknown): Promise<ExtenderBindingResult> {
    const problem = checkBindingArgs(raw);
    if (problem !== undefined) {
      throw new HttpError(400, problem);
    }
    const args = raw as ExtenderBindingArgs;
    const key = `${args.PodNamespace}/${args.PodName}`;
    try {
      await this.core.createNamespacedPodBinding({
        name: args.PodName,
        namespace: args.PodNamespace,
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: args.PodName, namespace: args.PodNamespace, uid: args.PodUID },
          target: { apiVersion: 'v1', kind: 'Node', name: args.Node },
        },
      });
    } catch (err) {
      // The scheduler logs this and retries the pod.
      return { Error: `binding ${key} to ${args.Node}: ${errorMessage(err)}` };
    }
    const pod = this.candidates.get(key) ?? this.pods.store.get(key);
    this.candidates.delete(key);
    const ownerUid = pod === undefined ? undefined : podGroupOwnerOf(pod)?.uid;
    this.bindings.set(key, { node: args.Node, requests: pod === undefined ? { pods: 1 } : podRequests(pod), ownerUid, at: Date.now() });
    this.inFlight.delete(key);
    [...this.bindWaiters].forEach((wake) => wake());
    this.log.info('bound pod', { pod: key, node: args.Node });
    return { Error: '' };
  }

  /** The PodGroup controlling this pod, from the cache; undefined for any other pod. */
  private groupOf(pod: k8s.V1Pod): PodGroup | undefined {
    const ref = podGroupOwnerOf(pod);
    if (ref === undefined) {
      return undefined;
    }
    const group = this.podGroups.store.get(`${pod.metadata?.namespace}/${ref.name}`);
    return group?.metadata?.uid === ref.uid ? group : undefined;
  }

  /** Node views for the request's nodes (full objects, or names looked up in the cache). */
  private nodeViews(args: ExtenderArgs): { views: NodeView[]; unknown: Record<string, string> } {
    this.forgetSeenBindings();
    const unknown: Record<string, string> = {};
    const nodes: k8s.V1Node[] = [];
    if (args.NodeNames != null) {
      for (const name of args.NodeNames) {
        const node = this.nodes.store.get(name);
        if (node === undefined) {
          unknown[name] = 'node unknown to the podgroup extender (not in its cache yet)';
        } else {
          nodes.push(node);
        }
      }
    } else {
      nodes.push(...(args.Nodes?.items ?? []).filter((n) => typeof n?.metadata?.name === 'string'));
    }
    const requested = this.requestedPerNode();
    const views = nodes.map((node) => {
      const name = node.metadata?.name ?? '';
      return { name, zone: node.metadata?.labels?.[ZONE_LABEL], allocatable: allocatableOf(node), requested: requested.get(name) ?? {}, members: 0 };
    });
    return { views, unknown };
  }

  /** Requests of every non-terminal pod per node, plus bindings not yet in the cache. */
  private requestedPerNode(): Map<string, Resources> {
    const out = new Map<string, Resources>();
    const addTo = (node: string, r: Resources): void => {
      out.set(node, sum(out.get(node) ?? {}, r));
    };
    for (const pod of this.pods.store.list()) {
      const node = pod.spec?.nodeName;
      if (node && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') {
        addTo(node, requestsOf(pod));
      }
    }
    for (const [key, b] of this.bindings) {
      if (!this.pods.store.get(key)?.spec?.nodeName) {
        addTo(b.node, b.requests);
      }
    }
    return out;
  }

  /** Adds the group's members per node and zone; `bound` excludes the pod being placed. */
  private memberViews(group: PodGroup, podKey: string, views: NodeView[]): { views: NodeView[]; bound: number; zoneMembers: Map<string, number> } {
    const uid = group.metadata?.uid ?? '';
    const perNode = new Map<string, number>();
    let bound = 0;
    const count = (node: string): void => {
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
      bound += 1;
    };
    for (const pod of this.pods.store.byIndex(BY_CONTROLLER_UID, uid)) {
      const key = objectKey(pod);
      if (key === podKey || pod.metadata?.deletionTimestamp != null) {
        continue;
      }
      const node = pod.spec?.nodeName || this.bindings.get(key)?.node;
      if (node) {
        count(node);
      }
    }
    for (const [key, b] of this.bindings) {
      if (b.ownerUid === uid && key !== podKey && this.pods.store.get(key) === undefined) {
        count(b.node);
      }
    }
    const zoneMembers = new Map<string, number>();
    for (const [nodeName, n] of perNode) {
      const zone = this.nodes.store.get(nodeName)?.metadata?.labels?.[ZONE_LABEL];
      if (zone !== undefined) {
        zoneMembers.set(zone, (zoneMembers.get(zone) ?? 0) + n);
      }
    }
    return { views: views.map((v) => ({ ...v, members: perNode.get(v.name) ?? 0 })), bound, zoneMembers };
  }

  private forgetSeenBindings(): void {
    const now = Date.now();
    for (const [key, b] of this.bindings) {
      if (this.pods.store.get(key)?.spec?.nodeName || now - b.at > BINDING_MEMORY_MS) {
        this.bindings.delete(key);
      }
    }
    // Pods filtered but never bound (another node chosen elsewhere, or deleted).
    if (this.candidates.size > 10_000) {
      this.candidates.clear();
    }
  }
}

/** Cached objects are replaced, never mutated, on change: results can be memoised per object. */
function memoised<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const cache = new WeakMap<K, V>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) {
      value = compute(key);
      cache.set(key, value);
    }
    return value;
  };
}

const requestsOf = memoised(podRequests);
const allocatableOf = memoised(nodeAllocatable);

const keyOf = (pod: k8s.V1Pod): string => `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;

function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit && !failed) {
        failed = true;
        reject(new HttpError(413, `request body exceeds the limit of ${limit} bytes`));
      }
      if (!failed) {
        chunks.push(chunk);
      }
    });
    req.on('error', (err) => reject(new HttpError(400, `reading the request failed: ${err.message}`)));
    req.on('end', () => {
      if (failed) {
        return;
      }
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(new HttpError(400, `malformed JSON: ${err instanceof Error ? err.message : String(err)}`));
      }
    });
  });
}

/** Adds the extender to a manager, sharing its pod, node and PodGroup informers. */
export function setupSchedulerExtender(manager: Manager, options: ExtenderOptions): SchedulerExtender {
  const extender = new SchedulerExtender(
    manager.clients,
    manager.log,
    manager.informers.for(podResource(manager.clients)),
    manager.informers.for(nodeResource(manager.clients)),
    manager.informers.for(customResource<PodGroup>(manager.clients, { group: GROUP, version: VERSION, plural: PLURAL, kind: KIND })),
    options,
  );
  manager.addRunnable(extender);
  return extender;
}
