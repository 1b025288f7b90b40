// The mutating admission webhook edge: HTTPS /mutate-v1-pod, AdmissionReview v1 in, a JSON Patch
// out. It reads namespace labels and PodGroups from the shared caches, lets config.ts and
// mutate.ts decide, and denies (never half-injects) when the pod's annotations are invalid.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { controllingPodGroup, GROUP, KIND, PLURAL, VERSION, type PodGroup } from '../api/podgroup.js';
import { close, HttpError, listen, readBody, readCertDir, sendJson, updateTls, watchCertDir, type ServerLimits } from '../runtime/http-server.js';
import type { SharedInformer } from '../runtime/shared-informer.js';
import { errorLogFields } from '../runtime/kube-client.js';
import type { Logger } from '../runtime/logging.js';
import type { ListenAddress, Manager, Runnable } from '../runtime/manager.js';
import { injections, missedInjections, webhookInFlight, webhookLatency, webhookRequests } from '../runtime/metrics.js';
import { customResource, namespaceResource, podResource } from '../runtime/resources.js';
import { InjectionError, NAMESPACE_LABEL, PROTECTED_NAMESPACES, resolveRequest, revisionSidecars, STATUS_ANNOTATION, type InjectionRequest } from './config.js';
import { mutate, podShapeError, type InjectorSettings } from './mutate.js';
import { WebhookCertificates, type ServingCertificate, type TlsOptions } from './tls.js';

export const WEBHOOK_PATH = '/mutate-v1-pod';

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
  limits: ServerLimits;
  settings: InjectorSettings;
  tls: TlsOptions;
  /**
   * Serve tls.crt/tls.key from this directory (a Secret another issuer such as cert-manager keeps,
   * with the caBundle injected by its cainjector) instead of managing the certificate here.
   */
  certDir?: string;
}

class BadRequest extends HttpError {
  constructor(message: string) {
    super(400, message);
  }
}

export class SidecarWebhook implements Runnable {
  readonly name = 'sidecar-webhook';
  readonly needLeaderElection = false;
  private server: Server | undefined;
  private readonly certificates: WebhookCertificates | undefined;
  private stopCertDirWatch: (() => void) | undefined;
  private readonly log: Logger;

  constructor(
    manager: Manager,
    private readonly namespaces: SharedInformer<k8s.V1Namespace>,
    private readonly podGroups: SharedInformer<PodGroup>,
    private readonly options: WebhookOptions,
  ) {
    this.log = manager.log.child({ component: 'sidecar-webhook' });
    this.certificates =
      options.certDir === undefined ? new WebhookCertificates(manager.clients, options.tls, this.log, (cert) => this.useCertificate(cert)) : undefined;
  }

  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  /** Whether the webhook accepts connections (the manager is not Ready before). */
  get listening(): boolean {
    return this.server?.listening === true;
  }

  async start(): Promise<void> {
    const dir = this.options.certDir;
    const cert = dir === undefined ? await this.certificates?.start() : readCertDir(dir);
    if (cert === undefined) {
      throw new Error('the webhook has no serving certificate');
    }
    this.server = await listen('webhook', this.options.address, this.options.limits, (req, res) => void this.handle(req, res), {
      certPem: cert.certPem,
      keyPem: cert.keyPem,
    });
    if (dir !== undefined) {
      this.stopCertDirWatch = watchCertDir(
        dir,
        this.options.tls.checkIntervalMs,
        (tls) => this.useCertificate(tls),
        (err) => this.log.warn('could not reload the webhook certificate', { dir, ...errorLogFields(err) }),
      );
    }
    this.log.info('serving the sidecar webhook', { address: `${this.options.address.host}:${this.port}`, path: WEBHOOK_PATH });
  }

  async stop(): Promise<void> {
    this.certificates?.stop();
    this.stopCertDirWatch?.();
    await close(this.server);
  }

  /** Hot swap: new TLS connections use the new certificate, open ones finish on the old. */
  private useCertificate(cert: Pick<ServingCertificate, 'certPem' | 'keyPem'>): void {
    if (this.server !== undefined) {
      updateTls(this.server, { certPem: cert.certPem, keyPem: cert.keyPem });
    }
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
        body = this.review(await readBody(req, res));
      }
    } catch (err) {
      status = err instanceof HttpError ? err.status : 500;
      body = { message: err instanceof Error ? err.message : String(err) };
      if (status === 500) {
        this.log.error('webhook failed', errorLogFields(err));
      }
    } finally {
      webhookInFlight.dec({ webhook: WEBHOOK_PATH });
      end();
    }
    webhookRequests.inc({ webhook: WEBHOOK_PATH, code: String(status) });
    sendJson(res, status, body);
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
    const respond = (response: object): AdmissionReview =>
      ({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: request.uid, allowed: true, ...response },
      }) as AdmissionReview;
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

  /**
   * The PodGroup controlling the pod, if the ownerReference names it by UID too: a pod that names
   * a PodGroup it does not belong to (a deleted one's name reused, or a forged reference) gets
   * no PodGroup settings.
   */
  podGroupOf(pod: k8s.V1Pod, namespace: string): PodGroup | undefined {
    return controllingPodGroup(pod, (key) => this.podGroups.store.get(key), namespace);
  }
}

/**
 * Reports pods that asked for sidecars but were admitted without them (created while the webhook
 * was unreachable under failurePolicy Ignore, or before their namespace opted in): a metric and a
 * Warning Event on the pod and on its PodGroup. Runs on the leader only (every replica sees the
 * same pods; one report is enough): on becoming leader it checks the pods already cached, then
 * each new one. A pod is reported once per leader; deleted pods are forgotten.
 */
class MissedInjectionReporter implements Runnable {
  readonly name = 'missed-injection-reporter';
  readonly needLeaderElection = true;
  private active = false;
  private readonly reported = new Set<string>();

  constructor(
    private readonly manager: Manager,
    private readonly pods: SharedInformer<k8s.V1Pod>,
    private readonly webhook: SidecarWebhook,
    private readonly namespaces: SharedInformer<k8s.V1Namespace>,
    private readonly ownNamespace: string,
  ) {
    pods.addEventHandler({
      onAdd: (pod) => this.check(pod),
      onDelete: (pod) => this.reported.delete(pod.metadata?.uid ?? ''),
    });
  }

  async start(): Promise<void> {
    this.active = true;
    for (const pod of this.pods.store.list()) {
      this.check(pod);
    }
  }

  async stop(): Promise<void> {
    this.active = false;
    this.reported.clear();
  }

  private check(pod: k8s.V1Pod): void {
    const namespace = pod.metadata?.namespace ?? '';
    const uid = pod.metadata?.uid ?? '';
    if (
      !this.active ||
      this.reported.has(uid) ||
      PROTECTED_NAMESPACES.includes(namespace) ||
      namespace === this.ownNamespace ||
      pod.metadata?.deletionTimestamp != null
    ) {
      return;
    }
    if (pod.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined) {
      return;
    }
    const group = this.webhook.podGroupOf(pod, namespace);
    let wanted: InjectionRequest | undefined;
    try {
      wanted = resolveRequest({
        annotations: pod.metadata?.annotations ?? {},
        namespaceOptIn: this.namespaces.store.get(namespace)?.metadata?.labels?.[NAMESPACE_LABEL] === 'enabled',
        podGroupSidecars: group === undefined ? undefined : revisionSidecars(pod.metadata?.annotations ?? {}),
      });
    } catch {
      return; // invalid requests are denied at admission, never admitted
    }
    if (wanted === undefined) {
      return;
    }
    this.reported.add(uid);
    missedInjections.inc();
    const kinds = [wanted.gitSync ? 'git-sync' : undefined, wanted.logCollector ? 'log-collector' : undefined].filter(Boolean).join(', ');
    const message = `pod ${pod.metadata?.name} asked for ${kinds} but was admitted without them (was the webhook unreachable?); delete it to recreate it with sidecars`;
    this.manager.events.event(pod, 'Warning', 'SidecarInjectionMissed', message);
    if (group !== undefined) {
      this.manager.events.event(group, 'Warning', 'SidecarInjectionMissed', message);
    }
    this.manager.log.warn('missed sidecar injection', { pod: `${namespace}/${pod.metadata?.name}`, sidecars: kinds });
  }
}

export function setupSidecarWebhook(manager: Manager, options: WebhookOptions): SidecarWebhook {
  const namespaces = manager.informers.for(namespaceResource(manager.clients));
  const podGroups = manager.informers.for(customResource<PodGroup>(manager.clients, { group: GROUP, version: VERSION, plural: PLURAL, kind: KIND }));
  const webhook = new SidecarWebhook(manager, namespaces, podGroups, options);
  manager.addRunnable(webhook);
  // Ready only once the API server can reach us: a rollout must not route admissions to a replica
  // that is still creating its certificate.
  manager.addReadyCheck('webhook', () => (webhook.listening ? undefined : 'the webhook is not listening yet'));
  manager.addRunnable(new MissedInjectionReporter(manager, manager.informers.for(podResource(manager.clients)), webhook, namespaces, options.ownNamespace));
  return webhook;
}
