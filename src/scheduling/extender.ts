// The scheduler-extender edge: an HTTPS server for kube-scheduler's filter, prioritize and bind
// verbs. PodGroup members get gang feasibility, maxPerNode and Spread/Pack scores; other pods
// pass through untouched. Because it also binds, it knows every placement the moment it is
// made, so its accounting never waits for the informer (bindings are remembered until seen).
//
// It trusts nobody on the network: a client must present the scheduler's certificate (issued by
// the manager's extender CA), bind is refused for any pod that is not one of our schedulers',
// has another UID or did not pass our filter (binding.ts), and what it remembers between calls
// is the little a decision needs (UID, owner, requests, passed nodes), bounded in bytes and time.
// What decisions read about the cluster (requests per node, members per node) is kept current
// from pod events by placement-index.ts, so a call costs O(nodes sent + the pod's group).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import { controllingPodGroup, GROUP, KIND, PLURAL, VERSION, type PodGroup } from '../api/podgroup.js';
import { BoundedMap, stringBytes } from '../runtime/bounded-map.js';
import { clientCommonName, close, HttpError, listen, readBody, sendJson, updateTls, type ServerLimits } from '../runtime/http-server.js';
import type { SharedInformer } from '../runtime/shared-informer.js';
import { errorMessage, KubeClients, statusCode, type ClientOptions } from '../runtime/kube-client.js';
import type { Logger } from '../runtime/logging.js';
import type { ListenAddress, Manager, Runnable } from '../runtime/manager.js';
import { extenderLatency, extenderRequests, gangRejections } from '../runtime/metrics.js';
import { customResource, nodeResource, podResource } from '../runtime/resources.js';
import { objectKey } from '../runtime/store.js';
import { bindRefusal, type FilteredPod } from './binding.js';
import { filterForGang, filterReadsMembersInFlight, type NodeView } from './gang.js';
import { groupKey, PlacementIndex } from './placement-index.js';
import { cachedNodeAllocatable, nodeAllocatable, podRequests, type Resources } from './resources.js';
import { score } from './scoring.js';
import type { ExtenderTlsSource } from './tls.js';
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
  /** A client of its own (own rate limit) for its Bindings; without it, the manager's is shared. */
  client?: ClientOptions;
  address: ListenAddress;
  limits: ServerLimits;
  tls: ExtenderTlsSource;
  /** Common name of the only client certificate served (the scheduler's). */
  clientName: string;
  /** Pods of these schedulers may be bound; bind refuses any other pod. */
  schedulerNames: string[];
}

const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** Bindings we made stay counted until the informer shows them, or this long at most. */
const BINDING_MEMORY_MS = 60_000;
/**
 * What filter remembers for bind: kept this long (kube-scheduler's VolumeBinding may hold a pod
 * in PreBind up to its 600 s bind timeout), and in this many bytes at most (oldest dropped first:
 * a dropped pod's bind is refused and the scheduler filters it again).
 */
const FILTER_MEMORY_MS = 600_000;
const FILTER_MEMORY_BYTES = 32 * 1024 * 1024;
const BINDING_MEMORY_BYTES = 16 * 1024 * 1024;

/** The API path of the pod a bind call names. */
const podPath = (args: ExtenderBindingArgs): string => `/api/v1/namespaces/${encodeURIComponent(args.PodNamespace)}/pods/${encodeURIComponent(args.PodName)}`;

/**
 * kube-scheduler binds in the background while it already filters the next pod, so a member
 * scored a moment ago may be about to bind. Prioritize of the same PodGroup (and filter, when its
 * verdict reads the group's counts: filterReadsMembersInFlight) waits at most this long for those
 * binds, so counts per node never miss an in-flight placement.
 */
const IN_FLIGHT_WAIT_MS = 1000;

/** What a decision reads of a node object (the rest of a NodeView changes with every bind). */
interface NodeFacts {
  zone: string | undefined;
  allocatable: Resources;
}

interface Candidate extends FilteredPod {
  /** Nodes that passed, with what filter read of them (prioritize reuses it). */
  passed: ReadonlyMap<string, NodeFacts>;
  /** namespace/UID of the pod's PodGroup, if any. */
  group: string | undefined;
  requests: Resources;
}

export class SchedulerExtender implements Runnable {
  readonly name = 'scheduler-extender';
  readonly needLeaderElection = false;
  private server: Server | undefined;
  /** Set when the extender has a client of its own, closed when it stops. */
  private readonly ownClients: KubeClients | undefined;
  /** The API client of bind (its own rate limit when options.client is set). */
  private readonly api: KubeClients;
  private readonly log: Logger;
  /** Requests and members per node, our bindings not yet in the cache, members in flight. */
  private readonly placements: PlacementIndex;
  /**
   * What filter saw of a pod: bind only gets its name, and the pod informer may not have the pod
   * yet, but its owner and requests must be counted at once — and bind must know which nodes
   * passed.
   */
  private readonly candidates = new BoundedMap<string, Candidate>(FILTER_MEMORY_BYTES, FILTER_MEMORY_MS);
  private readonly bindWaiters = new Set<() => void>();

  constructor(
    clients: KubeClients,
    logger: Logger,
    private readonly pods: SharedInformer<k8s.V1Pod>,
    private readonly nodes: SharedInformer<k8s.V1Node>,
    private readonly podGroups: SharedInformer<PodGroup>,
    private readonly options: ExtenderOptions,
  ) {
    this.ownClients = options.client === undefined ? undefined : new KubeClients(clients.kubeConfig, options.client);
    this.api = this.ownClients ?? clients;
    this.log = logger.child({ component: 'scheduler-extender' });
    this.placements = new PlacementIndex(pods, { bindingMemoryMs: BINDING_MEMORY_MS, bindingMemoryBytes: BINDING_MEMORY_BYTES, inFlightMs: IN_FLIGHT_WAIT_MS });
  }

  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(): Promise<void> {
    const tls = await this.options.tls.start((renewed) => {
      if (this.server !== undefined) {
        updateTls(this.server, renewed);
      }
    });
    this.server = await listen('scheduler extender', this.options.address, this.options.limits, (req, res) => void this.handle(req, res), tls);
    this.log.info('serving scheduler extender', { address: `${this.options.address.host}:${this.port}`, client: this.options.clientName });
  }

  async stop(): Promise<void> {
    this.options.tls.stop();
    await close(this.server);
    this.ownClients?.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const verb = (req.url ?? '').split('?')[0]?.replace(/^\/+/, '').split('/').pop() ?? '';
    const known = verb === 'filter' || verb === 'prioritize' || verb === 'bind';
    const label = known ? verb : 'unknown';
    const end = extenderLatency.startTimer({ verb: label });
    let status = 200;
    let body: unknown;
    try {
      // The TLS handshake already refused clients without a certificate from our CA.
      const client = clientCommonName(req);
      if (client !== this.options.clientName) {
        throw new HttpError(403, `client certificate ${JSON.stringify(client ?? '')} is not the scheduler's (${this.options.clientName})`);
      }
      if (!known) {
        throw new HttpError(404, `unknown extender verb ${JSON.stringify(verb)}: use /filter, /prioritize or /bind`);
      }
      if (req.method !== 'POST') {
        throw new HttpError(405, `${req.method} not allowed: extender verbs take POST`);
      }
      const parsed = await readJson(req, res);
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
    sendJson(res, status, body);
  }

  private async filter(raw: unknown): Promise<ExtenderFilterResult> {
    const problem = checkExtenderArgs(raw);
    if (problem !== undefined) {
      throw new HttpError(400, problem);
    }
    const args = raw as ExtenderArgs;
    const cacheCapable = args.NodeNames != null;
    const group = this.groupOf(args.Pod);
    const key = group === undefined ? undefined : groupKeyOf(group);
    const podKey = keyOf(args.Pod);
    const request = podRequests(args.Pod);
    const gang = { minAvailable: group?.spec.minAvailable, maxPerNode: group?.spec.placement?.maxPerNode };
    if (key !== undefined && filterReadsMembersInFlight({ ...gang, bound: this.placements.boundMembers(key, podKey) })) {
      await this.awaitInFlightBinds(key, podKey);
    }
    const members = key === undefined ? undefined : this.placements.membersOf(key, podKey);
    const { views, unknown } = this.nodeViews(args, members?.perNode);
    const result = (passed: string[], failed: Record<string, string>, error = ''): ExtenderFilterResult => ({
      ...(cacheCapable ? { NodeNames: passed } : { Nodes: { items: itemsNamed(args.Nodes?.items ?? [], passed) } }),
      FailedNodes: { ...failed, ...unknown },
      FailedAndUnresolvableNodes: {},
      Error: error,
    });
    const remember = (passed: string[]): void => this.rememberCandidate(podKey, args.Pod, key, request, views, passed);
    if (group === undefined || key === undefined || members === undefined) {
      const passed = views.map((v) => v.name);
      remember(passed);
      return result(passed, {});
    }
    const verdict = filterForGang({ group: objectKey(group), ...gang, bound: members.bound, request, nodes: views });
    remember(verdict.passed);
    if (verdict.gangMessage !== undefined) {
      gangRejections.inc();
      this.log.info('gang cannot be placed yet', { pod: podKey, podGroup: objectKey(group), reason: verdict.gangMessage });
      return result([], verdict.failed);
    }
    if (verdict.passed.length > 0) {
      // With one feasible node the scheduler skips prioritize and binds at once.
      this.placements.markInFlight(podKey, key);
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
    const group = this.groupOf(args.Pod);
    if (group === undefined) {
      // Scores are 0 whatever the node; kube-scheduler sends only nodes that passed filter.
      return requestedNames(args).map((name) => ({ Host: name, Score: 0 }));
    }
    const key = groupKeyOf(group);
    const podKey = keyOf(args.Pod);
    // Scores read members per node and zone (and, for Pack, requests), which every bind changes.
    await this.awaitInFlightBinds(key, podKey);
    const candidate = this.candidates.get(podKey);
    const filtered = candidate !== undefined && candidate.uid === (args.Pod.metadata?.uid ?? '') ? candidate.passed : undefined;
    const { perNode } = this.placements.membersOf(key, podKey);
    const { views } = this.nodeViews(args, perNode, filtered);
    this.placements.markInFlight(podKey, key);
    return score(group.spec.placement?.policy ?? 'Spread', views, this.zoneMembers(perNode));
  }

  /** Waits until other members of the PodGroup that just passed filter or were scored have been bound. */
  private async awaitInFlightBinds(key: string, podKey: string): Promise<void> {
    const deadline = Date.now() + IN_FLIGHT_WAIT_MS;
    for (;;) {
      if (!this.placements.othersInFlight(key, podKey) || Date.now() >= deadline) {
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
    const candidate = this.candidates.get(key);
    let live: k8s.V1Pod | undefined;
    try {
      live = await this.livePod(args);
    } catch (err) {
      return { Error: `binding ${key} to ${args.Node}: reading the pod: ${errorMessage(err)}` };
    }
    const refusal = bindRefusal(args, live, candidate, this.options.schedulerNames);
    if (refusal !== undefined) {
      this.candidates.delete(key);
      this.log.warn('refused to bind', { pod: key, node: args.Node, reason: refusal });
      return { Error: `binding ${key} to ${args.Node} refused: ${refusal}` };
    }
    // Assumed at once, as kube-scheduler assumes a pod in its cache before binding: the next member
    // of the group (waiting in awaitInFlightBinds) counts this placement without waiting for the
    // API call; a failed call takes the assumption back. The candidate is used up: a second bind of
    // the same pod meanwhile is refused, and a retry is filtered again.
    this.candidates.delete(key);
    this.placements.recordBinding(key, { node: args.Node, requests: candidate?.requests ?? { pods: 1 }, group: candidate?.group });
    [...this.bindWaiters].forEach((wake) => wake());
    try {
      await this.api.requestOutcome('POST', `${podPath(args)}/binding`, {
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: args.PodName, namespace: args.PodNamespace, uid: args.PodUID },
          target: { apiVersion: 'v1', kind: 'Node', name: args.Node },
        },
      });
    } catch (err) {
      this.placements.forgetBinding(key);
      // The scheduler logs this and retries the pod.
      return { Error: `binding ${key} to ${args.Node}: ${errorMessage(err)}` };
    }
    this.log.info('bound pod', { pod: key, node: args.Node });
    return { Error: '' };
  }

  private rememberCandidate(key: string, pod: k8s.V1Pod, group: string | undefined, requests: Resources, views: NodeView[], passed: string[]): void {
    const uid = pod.metadata?.uid ?? '';
    const passedNames = new Set(passed);
    const kept = new Map<string, NodeFacts>();
    for (const view of views) {
      if (passedNames.has(view.name)) {
        // The allocatable object is shared with the node cache's memo: only the entry costs.
        kept.set(view.name, { zone: view.zone, allocatable: view.allocatable });
      }
    }
    const bytes = 512 + stringBytes(key) + stringBytes(uid) + passed.reduce((n, name) => n + stringBytes(name) + 96, 0);
    this.candidates.set(key, { uid, passed: kept, group, requests }, bytes);
  }

  /** The pod as it is now: from the cache, else (just created) from the API server. */
  private async livePod(args: ExtenderBindingArgs): Promise<k8s.V1Pod | undefined> {
    const cached = this.pods.store.get(`${args.PodNamespace}/${args.PodName}`);
    if (cached !== undefined && cached.metadata?.uid === args.PodUID) {
      return cached;
    }
    try {
      // Plain JSON, the shape the cache holds.
      return await this.api.getJson<k8s.V1Pod>(podPath(args));
    } catch (err) {
      // 404, or a name the API server rejects (400): no such pod.
      const code = statusCode(err);
      if (code === 404 || code === 400) {
        return undefined;
      }
      throw err;
    }
  }

  /** The PodGroup controlling this pod, from the cache; undefined for any other pod. */
  private groupOf(pod: k8s.V1Pod): PodGroup | undefined {
    return controllingPodGroup(pod, (key) => this.podGroups.store.get(key));
  }

  /**
   * Node views for the request's nodes (full objects, or names looked up in the cache), with the
   * group's members on each (`perNode` excludes the pod being placed). Zone and
   * allocatable come from `filtered` when filter already read them for this pod: kube-scheduler
   * filters and scores one cycle against one snapshot of its node cache, so they are what it
   * scores with; requests per node are read now, as binds change them.
   */
  private nodeViews(
    args: ExtenderArgs,
    perNode: ReadonlyMap<string, number> | undefined,
    filtered?: ReadonlyMap<string, NodeFacts>,
  ): { views: NodeView[]; unknown: Record<string, string> } {
    const unknown: Record<string, string> = {};
    const views: NodeView[] = [];
    const add = (name: string, facts: NodeFacts): void => {
      views.push({ name, zone: facts.zone, allocatable: facts.allocatable, requested: this.placements.requestedOn(name), members: perNode?.get(name) ?? 0 });
    };
    const factsOf = (node: k8s.V1Node): NodeFacts => ({ zone: node.metadata?.labels?.[ZONE_LABEL], allocatable: cachedNodeAllocatable(node) });
    /** A sent Node is a fresh object every call: its allocatable is the cached node's when both are the same version. */
    const sentFacts = (name: string, node: k8s.V1Node): NodeFacts => {
      const cached = this.nodes.store.get(name);
      const version = node.metadata?.resourceVersion;
      const same = cached !== undefined && version !== undefined && cached.metadata?.resourceVersion === version;
      return { zone: node.metadata?.labels?.[ZONE_LABEL], allocatable: same ? cachedNodeAllocatable(cached) : nodeAllocatable(node) };
    };
    if (args.NodeNames != null) {
      for (const name of args.NodeNames) {
        const known = filtered?.get(name);
        const node = known === undefined ? this.nodes.store.get(name) : undefined;
        if (known !== undefined) {
          add(name, known);
        } else if (node !== undefined) {
          add(name, factsOf(node));
        } else {
          unknown[name] = 'node unknown to the podgroup extender (not in its cache yet)';
        }
      }
    } else {
      for (const node of args.Nodes?.items ?? []) {
        const name = node?.metadata?.name;
        if (typeof name === 'string') {
          add(name, filtered?.get(name) ?? sentFacts(name, node));
        }
      }
    }
    return { views, unknown };
  }

  /** The group's members per zone, over every node with members (not just the candidates): O(the group's nodes). */
  private zoneMembers(perNode: ReadonlyMap<string, number>): Map<string, number> {
    const zoneMembers = new Map<string, number>();
    for (const [nodeName, n] of perNode) {
      const zone = this.nodes.store.get(nodeName)?.metadata?.labels?.[ZONE_LABEL];
      if (zone !== undefined) {
        zoneMembers.set(zone, (zoneMembers.get(zone) ?? 0) + n);
      }
    }
    return zoneMembers;
  }
}

/** Names of the request's nodes, as sent. */
const requestedNames = (args: ExtenderArgs): string[] =>
  args.NodeNames ?? (args.Nodes?.items ?? []).map((n) => n?.metadata?.name).filter((name): name is string => typeof name === 'string');

const groupKeyOf = (group: PodGroup): string => groupKey(group.metadata?.namespace, group.metadata?.uid);

/** The items whose names passed, in the request's order. */
function itemsNamed(items: k8s.V1Node[], passed: string[]): k8s.V1Node[] {
  const names = new Set(passed);
  return items.filter((n) => names.has(n.metadata?.name ?? ''));
}

const keyOf = (pod: k8s.V1Pod): string => `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;

async function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  const body = await readBody(req, res);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `malformed JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
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
