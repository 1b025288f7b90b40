// A read-only (to its readers) object store with secondary indexes, fed by an informer.
// Controllers read it instead of the API server; indexes answer "pods owned by X" or "objects
// in namespace N" without scanning everything.
import type { KubernetesObject } from '@kubernetes/client-node';

/** Maps an object to the index values it should be found under. */
export type IndexFunc<T> = (obj: T) => string[];

export const BY_NAMESPACE = 'namespace';
export const BY_OWNER_UID = 'owner-uid';
export const BY_CONTROLLER_UID = 'controller-uid';
/** Namespace of objects without a controller (candidates for adoption). */
export const BY_NAMESPACE_UNCONTROLLED = 'namespace-uncontrolled';
/**
 * "<namespace>/<controller uid>": what a controller owns in its own namespace. Owner references
 * never cross namespaces, so an owner's lookups use this, never the bare UID (anyone who can
 * create objects elsewhere can name any UID).
 */
export const BY_NAMESPACED_CONTROLLER_UID = 'namespaced-controller-uid';

export const namespaceIndex: IndexFunc<KubernetesObject> = (obj) => [obj.metadata?.namespace ?? ''];
export const ownerUidIndex: IndexFunc<KubernetesObject> = (obj) => (obj.metadata?.ownerReferences ?? []).map((r) => r.uid);
export const controllerUidIndex: IndexFunc<KubernetesObject> = (obj) =>
  (obj.metadata?.ownerReferences ?? []).filter((r) => r.controller === true).map((r) => r.uid);

export const namespacedControllerUid = (namespace: string, uid: string): string => `${namespace}/${uid}`;
export const namespacedControllerUidIndex: IndexFunc<KubernetesObject> = (obj) =>
  controllerUidIndex(obj).map((uid) => namespacedControllerUid(obj.metadata?.namespace ?? '', uid));

export const uncontrolledNamespaceIndex: IndexFunc<KubernetesObject> = (obj) =>
  (obj.metadata?.ownerReferences ?? []).some((r) => r.controller === true) ? [] : [obj.metadata?.namespace ?? ''];

export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** What readers of a store may do. */
export interface Reader<T> {
  get(key: string): T | undefined;
  list(): T[];
  byIndex(index: string, value: string): T[];
  readonly size: number;
}

export class Store<T extends KubernetesObject> implements Reader<T> {
  private readonly items = new Map<string, T>();
  /** index name → index value → object keys */
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly indexers = new Map<string, IndexFunc<T>>();

  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    for (const [name, fn] of Object.entries(indexers)) {
      this.indexers.set(name, fn);
      this.indices.set(name, new Map());
    }
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): IterableIterator<string> {
    return this.items.keys();
  }

  byIndex(index: string, value: string): T[] {
    const idx = this.indices.get(index);
    if (idx === undefined) {
      throw new Error(`no index named ${index}`);
    }
    const keys = idx.get(value);
    if (keys === undefined) {
      return [];
    }
    const out: T[] = [];
    for (const key of keys) {
      const obj = this.items.get(key);
      if (obj !== undefined) {
        out.push(obj);
      }
    }
    return out;
  }

  /** Inserts or replaces; returns the previous object. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    if (old !== undefined) {
      this.unindex(key, old);
    }
    this.items.set(key, obj);
    this.index(key, obj);
    return old;
  }

  delete(key: string): T | undefined {
    const old = this.items.get(key);
    if (old !== undefined) {
      this.unindex(key, old);
      this.items.delete(key);
    }
    return old;
  }

  private index(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name) as Map<string, Set<string>>;
      for (const value of fn(obj)) {
        let keys = idx.get(value);
        if (keys === undefined) {
          keys = new Set();
          idx.set(value, keys);
        }
        keys.add(key);
      }
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name) as Map<string, Set<string>>;
      for (const value of fn(obj)) {
        const keys = idx.get(value);
        keys?.delete(key);
        if (keys?.size === 0) {
          idx.delete(value);
        }
      }
    }
  }
}
