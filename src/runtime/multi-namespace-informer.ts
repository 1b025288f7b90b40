// A namespace-scoped install watches a list of namespaces: one informer per namespace (each a
// namespaced list/watch, which a Role allows), seen by their users as one cache. Objects of
// different namespaces never share a key, so the union needs no merging.
import type * as k8s from '@kubernetes/client-node';
import type { EventHandler, Informer } from './informer.js';
import type { ResourceType } from './resources.js';
import type { SharedInformer } from './shared-informer.js';
import { BY_NAMESPACE, splitKey, type Reader } from './store.js';

class UnionReader<T extends k8s.KubernetesObject> implements Reader<T> {
  constructor(private readonly byNamespace: ReadonlyMap<string, Informer<T>>) {}

  get(key: string): T | undefined {
    return this.byNamespace.get(splitKey(key).namespace ?? '')?.store.get(key);
  }

  list(): T[] {
    return [...this.byNamespace.values()].flatMap((i) => i.store.list());
  }

  byIndex(index: string, value: string): T[] {
    if (index === BY_NAMESPACE) {
      return this.byNamespace.get(value)?.store.byIndex(index, value) ?? [];
    }
    return [...this.byNamespace.values()].flatMap((i) => i.store.byIndex(index, value));
  }

  get size(): number {
    let size = 0;
    for (const informer of this.byNamespace.values()) {
      size += informer.store.size;
    }
    return size;
  }
}

export class MultiNamespaceInformer<T extends k8s.KubernetesObject> implements SharedInformer<T> {
  readonly store: Reader<T>;

  constructor(
    readonly resource: ResourceType<T>,
    private readonly byNamespace: ReadonlyMap<string, Informer<T>>,
  ) {
    this.store = new UnionReader(byNamespace);
  }

  get reader(): Reader<T> {
    return this.store;
  }

  hasSynced(): boolean {
    return [...this.byNamespace.values()].every((i) => i.hasSynced());
  }

  addEventHandler(handler: EventHandler<T>): void {
    this.byNamespace.forEach((i) => i.addEventHandler(handler));
  }

  start(): void {
    this.byNamespace.forEach((i) => i.start());
  }

  async waitForSync(signal?: AbortSignal): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.waitForSync(signal)));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.stop()));
  }
}
