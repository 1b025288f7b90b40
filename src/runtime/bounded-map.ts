// A map for what a server remembers about its callers' requests: every entry has a size in
// bytes (estimated by the caller) and an expiry, and the whole map stays under a byte budget
// by evicting the oldest entries first — so no sequence of requests can grow it without bound.
// An owner that derives state from the entries learns of each eviction through onEvict.
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, { value: V; bytes: number; expires: number }>();
  private used = 0;
  /** No entry expires before this (a lower bound: deletes only raise the true one), so prune is O(1) until then. */
  private earliestExpiry = Number.POSITIVE_INFINITY;

  constructor(
    private readonly maxBytes: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    /** Called after an entry is dropped by expiry or by the byte budget (not by set or delete). */
    private readonly onEvict: (key: K, value: V) => void = () => undefined,
  ) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Stores value (replacing any entry under key); an entry larger than the whole budget is not kept. */
  set(key: K, value: V, bytes: number): void {
    this.delete(key);
    if (bytes > this.maxBytes) {
      return;
    }
    this.prune();
    // Map iteration order is insertion order: the first entries are the oldest.
    for (const [oldest] of this.entries) {
      if (this.used + bytes <= this.maxBytes) {
        break;
      }
      this.evict(oldest);
    }
    const expires = this.now() + this.ttlMs;
    this.entries.set(key, { value, bytes, expires });
    this.used += bytes;
    this.earliestExpiry = Math.min(this.earliestExpiry, expires);
  }

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    if (entry.expires <= this.now()) {
      this.evict(key);
      return undefined;
    }
    return entry.value;
  }

  delete(key: K): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.used -= entry.bytes;
    }
  }

  /** Live entries, oldest first. */
  *[Symbol.iterator](): IterableIterator<[K, V]> {
    this.prune();
    for (const [key, entry] of this.entries) {
      yield [key, entry.value];
    }
  }

  /** Drops expired entries (each entry has the same lifetime, so they expire in insertion order). */
  prune(): void {
    const now = this.now();
    if (now < this.earliestExpiry) {
      return;
    }
    this.earliestExpiry = Number.POSITIVE_INFINITY;
    for (const [key, entry] of this.entries) {
      if (entry.expires > now) {
        this.earliestExpiry = entry.expires;
        break;
      }
      this.evict(key);
    }
  }

  private evict(key: K): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.delete(key);
      this.onEvict(key, entry.value);
    }
  }
}

/** Rough bytes a string costs on the V8 heap (UTF-16 worst case plus header). */
export const stringBytes = (s: string): number => 2 * s.length + 32;
