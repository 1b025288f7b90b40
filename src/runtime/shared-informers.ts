// One informer per kind (and selector) shared by every controller and edge in the process,
// so N controllers watching pods cost one list/watch and one cache.
import type * as k8s from '@kubernetes/client-node';
import { dropManagedFields, Informer, type InformerOptions, type InitialListMethod } from './informer.js';
import type { Logger } from './logging.js';
import { MultiNamespaceInformer } from './multi-namespace-informer.js';
import type { ResourceType } from './resources.js';
import type { SharedInformer } from './shared-informer.js';
import {
  BY_CONTROLLER_UID,
  BY_NAMESPACE,
  BY_NAMESPACE_UNCONTROLLED,
  BY_NAMESPACED_CONTROLLER_UID,
  BY_OWNER_UID,
  controllerUidIndex,
  namespacedControllerUidIndex,
  namespaceIndex,
  ownerUidIndex,
  uncontrolledNamespaceIndex,
  type IndexFunc,
} from './store.js';

export interface SharedInformerDefaults {
  /** Drop metadata.managedFields before caching (saves memory; controllers never read them). */
  dropManagedFields: boolean;
  /**
   * What the caches keep of each object, by resource name (ResourceType.name): a projection
   * applied to every listed or watched object before it is cached, for every user of that informer.
   */
  projections?: Readonly<Record<string, (obj: k8s.KubernetesObject) => k8s.KubernetesObject>>;
  stallTimeoutMs?: number;
  initialList?: InitialListMethod;
  logger: Logger;
  /**
   * Watch namespaced kinds only in these namespaces (one list/watch each, which a Role in each
   * allows); cluster-scoped kinds are watched as always. Default: every namespace.
   */
  namespaces?: string[];
}

export type SharedInformerOptions<T> = Pick<InformerOptions<T>, 'labelSelector' | 'fieldSelector' | 'indexers'>;

const defaultIndexers: Record<string, IndexFunc<k8s.KubernetesObject>> = {
  [BY_NAMESPACE]: namespaceIndex,
  [BY_OWNER_UID]: ownerUidIndex,
  [BY_CONTROLLER_UID]: controllerUidIndex,
  [BY_NAMESPACE_UNCONTROLLED]: uncontrolledNamespaceIndex,
  [BY_NAMESPACED_CONTROLLER_UID]: namespacedControllerUidIndex,
};

export class SharedInformers {
  private readonly informers = new Map<string, SharedInformer<k8s.KubernetesObject>>();
  private started = false;

  constructor(private readonly defaults: SharedInformerDefaults) {}

  /** The process-wide informer for `resource` (created on first use, started if the factory runs). */
  for<T extends k8s.KubernetesObject>(resource: ResourceType<T>, options: SharedInformerOptions<T> = {}): SharedInformer<T> {
    const key = `${resource.name}?l=${options.labelSelector ?? ''}&f=${options.fieldSelector ?? ''}`;
    let informer = this.informers.get(key) as SharedInformer<T> | undefined;
    if (informer === undefined) {
      const create = (r: ResourceType<T>): Informer<T> =>
        new Informer<T>(r, {
          ...options,
          indexers: { ...(defaultIndexers as Record<string, IndexFunc<T>>), ...options.indexers },
          transform: this.transformFor(resource.name) as InformerOptions<T>['transform'],
          stallTimeoutMs: this.defaults.stallTimeoutMs,
          initialList: this.defaults.initialList,
          logger: this.defaults.logger,
        });
      const namespaces = this.defaults.namespaces;
      const inNamespace = resource.inNamespace?.bind(resource);
      informer =
        namespaces === undefined || inNamespace === undefined
          ? create(resource)
          : new MultiNamespaceInformer(resource, new Map(namespaces.map((ns) => [ns, create(inNamespace(ns))])));
      this.informers.set(key, informer as unknown as SharedInformer<k8s.KubernetesObject>);
      if (this.started) {
        informer.start();
      }
    }
    return informer;
  }

  private transformFor(resource: string): InformerOptions<k8s.KubernetesObject>['transform'] {
    const project = this.defaults.projections?.[resource];
    if (!this.defaults.dropManagedFields) {
      return project;
    }
    return project === undefined ? dropManagedFields : (obj) => project(dropManagedFields(obj));
  }

  start(): void {
    this.started = true;
    for (const informer of this.informers.values()) {
      informer.start();
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  /** Names of informers that have not completed their first list. */
  unsynced(): string[] {
    return [...this.informers.values()].filter((i) => !i.hasSynced()).map((i) => i.resource.name);
  }

  async waitForSync(signal?: AbortSignal): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync(signal)));
  }
}
