// The mutating admission webhook edge: HTTPS /mutate-v1-pod, AdmissionReview v1 in, a JSON Patch
// out. It reads namespace labels and PodGroups from the shared caches, lets config.ts and
// mutate.ts decide, and denies (never half-injects) when the pod's annotations are invalid.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, podGroupOwnerOf, VERSION, type PodGroup } from '../api/podgroup.js';
import type { Informer } from '../runtime/informer.js';
import { errorLogFields } from '../runtime/kube-client.js';
import type { Logger } from '../runtime/logging.js';
import type { ListenAddress, Manager, Runnable } from '../runtime/manager.js';
import { injections, missedInjections, webhookInFlight, webhookLatency, webhookRequests } from '../runtime/metrics.js';
import { customResource, namespaceResource, podResource } from '../runtime/resources.js';
import { InjectionError, NAMESPACE_LABEL, PROTECTED_NAMESPACES, resolveRequest, revisionSidecars, STATUS_ANNOTATION, type InjectionRequest } from './config.js';
import { mutate, podShapeError, type InjectorSettings } from './mutate.js';
import { WebhookCertificates, type ServingCertificate, type TlsOptions } from './tls.js';

export const WEBHOOK_PATH = '/mutate-v1-pod';
const WEBHOOK_NAME = 'sidecar-injector';

interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  namespace?: string;
  object?: k8s.V1Pod;
  dryRun?: boolean;
}

interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: AdmissionRequest;
}

export interface WebhookOptions {
  address: ListenAddress;
  /** The controller's own namespace: never injected into. */
  ownNamespace: string;
  maxBodyBytes: number;
  settings: InjectorSettings;
  tls: TlsOptions;
}

class BadRequest extends Error {}

export class SidecarWebhook implements Runnable {
  readonly name = 'sidecar-webhook';
  readonly needLeaderElection = false;
  private server: Server | undefined;
  readonly certificates: WebhookCertificates;
  private readonly log: Logger;

  constructor(
    manager: Manager,
    private readonly namespaces: Informer<k8s.V1Namespace>,
    private readonly podGroups: Informer<PodGroup>,
    private readonly options: WebhookOptions,
  ) {
    this.log = manager.log.child({ component: 'sidecar-webhook' });
    this.certificates = new WebhookCertificates(manager.clients, options.tls, this.log, (cert) => this.useCertificate(cert));
  }

  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(): Promise<void> {
    const cert = await this.certificates.start();
    const { host, port } = this.options.address;
    this.server = await new Promise<Server>((resolve, reject) => {
      const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => void this.handle(req, res));
      server.once('error', (err) => reject(new Error(`webhook cannot listen on ${host}:${port}: ${err.message}`)));
      server.listen(port, host, () => resolve(server));
    });
    this.log.info('serving the sidecar webhook', { address: `${host}:${this.port}`, path: WEBHOOK_PATH });
  }

  async stop(): Promise<void> {
    this.certificates.stop();
    const server = this.server;
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  /** Hot swap: new TLS connections use the new certificate, open ones finish on the old. */
  private useCertificate(cert: ServingCertificate): void {
    this.server?.setSecureContext({ cert: cert.certPem, key: cert.keyPem });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    webhookInFlight.inc({ webhook: WEBHOOK_PATH });
    const end = webhookLatency.startTimer({ webhook: WEBHOOK_PATH });
    let status = 200;
    let body: unknown;
    try {
      if ((req.url ?? '').split('?')[0] !== WEBHOOK_PATH) {
        status = 404;
        body = { message: `not found: the webhook is served at ${WEBHOOK_PATH}` };
      } else if (req.method !== 'POST') {
        status = 405;
        body = { message: 'admission reviews are POSTed' };
      } else {
        body = this.review(await readBody(req, this.options.maxBodyBytes));
      }
    } catch (err) {
      status = err instanceof BadRequest ? 400 : 500;
      body = { message: err instanceof Error ? err.message : String(err) };
      if (status === 500) {
        this.log.error('webhook failed', errorLogFields(err));
      }
    } finally {
      webhookInFlight.dec({ webhook: WEBHOOK_PATH });
      end();
    }
    webhookRequests.inc({ webhook: WEBHOOK_PATH, code: String(status) });
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  }

  private review(raw: Buffer): AdmissionReview {
    let review: AdmissionReview;
    try {
      review = JSON.parse(raw.toString('utf8')) as AdmissionReview;
    } catch (err) {
      throw new BadRequest(`malformed AdmissionReview JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    const request = review?.request;
    if (review?.kind !== 'AdmissionReview' || typeof request?.uid !== 'string') {
      throw new BadRequest('expected an admission.k8s.io/v1 AdmissionReview with request.uid');
    }
    const respond = (response: object): AdmissionReview => ({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: request.uid, allowed: true, ...response },
    } as AdmissionReview);
    const pod = request.object;
    if (request.kind?.kind !== 'Pod' || pod === undefined || pod === null) {
      return respond({});
    }
    const shapeError = podShapeError(pod);
    if (shapeError !== undefined) {
      throw new BadRequest(`request.object is not a Pod: ${shapeError}`);
    }
    const namespace = request.namespace ?? pod.metadata?.namespace ?? '';
    // Enforced here as well as in the configuration's namespaceSelector.
    if (PROTECTED_NAMESPACES.includes(namespace) || namespace === this.options.ownNamespace) {
      return respond({});
    }
    const podKey = `${namespace}/${pod.metadata?.name ?? pod.metadata?.generateName ?? ''}`;
    let request0: InjectionRequest | undefined;
    try {
      request0 = resolveRequest({
        annotations: pod.metadata?.annotations ?? {},
        namespaceOptIn: this.namespaces.store.get(namespace)?.metadata?.labels?.[NAMESPACE_LABEL] === 'enabled',
        podGroupSidecars: this.podGroupOf(pod, namespace) === undefined ? undefined : revisionSidecars(pod.metadata?.annotations ?? {}),
      });
      if (request0 === undefined) {
        return respond({});
      }
      const result = mutate(pod, request0, this.options.settings);
      if (result.patch.length === 0) {
        return respond({});
      }
      for (const kind of result.injected) {
        injections.inc({ sidecar: kind, mode: result.mode });
      }
      this.log.info('injected sidecars', { pod: podKey, sidecars: result.injected, mode: result.mode, dryRun: request.dryRun === true });
      return respond({ patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64') });
    } catch (err) {
      if (err instanceof InjectionError) {
        this.log.info('denied pod with invalid sidecar annotations', { pod: podKey, reason: err.message });
        return respond({ allowed: false, status: { code: 400, reason: 'BadRequest', message: `sidecar injection: ${err.message}` } });
      }
      throw err;
    }
  }

  podGroupOf(pod: k8s.V1Pod, namespace: string): PodGroup | undefined {
    const ref = podGroupOwnerOf(pod);
    return ref === undefined ? undefined : this.podGroups.store.get(`${namespace}/${ref.name}`);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BadRequest(`request body exceeds ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', (err) => reject(new BadRequest(err.message)));
  });
}

/**
 * Reports pods that asked for sidecars but were admitted without them (created while the webhook
 * was unreachable under failurePolicy Ignore, or before their namespace opted in): a metric and a
 * Warning Event on the pod and on its PodGroup. Each pod is reported once.
 */
function watchMissedInjections(manager: Manager, pods: Informer<k8s.V1Pod>, webhook: SidecarWebhook, namespaces: Informer<k8s.V1Namespace>, podGroups: Informer<PodGroup>, ownNamespace: string): void {
  const reported = new Set<string>();
  const check = (pod: k8s.V1Pod): void => {
    const namespace = pod.metadata?.namespace ?? '';
    const uid = pod.metadata?.uid ?? '';
    if (reported.has(uid) || PROTECTED_NAMESPACES.includes(namespace) || namespace === ownNamespace || pod.metadata?.deletionTimestamp != null) {
      return;
    }
    if (pod.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined) {
      return;
    }
    const group = webhook.podGroupOf(pod, namespace);
    let wanted: InjectionRequest | undefined;
    try {
      wanted = resolveRequest({
        annotations: pod.metadata?.annotations ?? {},
        namespaceOptIn: namespaces.store.get(namespace)?.metadata?.labels?.[NAMESPACE_LABEL] === 'enabled',
        podGroupSidecars: group === undefined ? undefined : revisionSidecars(pod.metadata?.annotations ?? {}),
      });
    } catch {
      return; // invalid requests are denied at admission, never admitted
    }
    if (wanted === undefined) {
      return;
    }
    reported.add(uid);
    missedInjections.inc();
    const kinds = [wanted.gitSync ? 'git-sync' : undefined, wanted.logCollector ? 'log-collector' : undefined].filter(Boolean).join(', ');
    const message = `pod ${pod.metadata?.name} asked for ${kinds} but was admitted without them (was the webhook unreachable?); delete it to recreate it with sidecars`;
    manager.events.event(pod, 'Warning', 'SidecarInjectionMissed', message);
    if (group !== undefined) {
      manager.events.event(group, 'Warning', 'SidecarInjectionMissed', message);
    }
    manager.log.warn('missed sidecar injection', { pod: `${namespace}/${pod.metadata?.name}`, sidecars: kinds });
  };
  pods.addEventHandler({ onAdd: check });
}

export function setupSidecarWebhook(manager: Manager, options: WebhookOptions): SidecarWebhook {
  const namespaces = manager.informers.for(namespaceResource(manager.clients));
  const podGroups = manager.informers.for(customResource<PodGroup>(manager.clients, { group: GROUP, version: VERSION, plural: PLURAL, kind: KIND }));
  const webhook = new SidecarWebhook(manager, namespaces, podGroups, options);
  manager.addRunnable(webhook);
  watchMissedInjections(manager, manager.informers.for(podResource(manager.clients)), webhook, namespaces, podGroups, options.ownNamespace);
  return webhook;
}
