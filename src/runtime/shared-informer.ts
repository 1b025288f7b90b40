// What controllers and servers use of an informer: its cache and its events. One Informer (one
// list/watch) or a MultiNamespaceInformer (one per watched namespace) behind the same face.
import type * as k8s from '@kubernetes/client-node';
import type { EventHandler } from './informer.js';
import type { ResourceType } from './resources.js';
import type { Reader } from './store.js';

export interface SharedInformer<T extends k8s.KubernetesObject> {
  readonly resource: ResourceType<T>;
  /** The cache (read-only). */
  readonly store: Reader<T>;
  readonly reader: Reader<T>;
  hasSynced(): boolean;
  addEventHandler(handler: EventHandler<T>): void;
  start(): void;
  waitForSync(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
