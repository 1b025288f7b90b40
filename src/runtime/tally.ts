// Sums of named amounts per key (e.g. resources requested per node), kept current by adding and
// removing each object's contribution as informer events arrive, so a reader gets a key's total
// in O(1) instead of recounting every cached object. A key's sums go back to exact zeros when its
// last contribution leaves, so floating-point residue never outlives the objects that caused it.
export type Amounts = Record<string, number>;

const NONE: Readonly<Amounts> = Object.freeze({});

export class Tally {
  private readonly totals = new Map<string, { contributions: number; amounts: Amounts }>();

  add(key: string, amounts: Readonly<Amounts>): void {
    let total = this.totals.get(key);
    if (total === undefined) {
      total = { contributions: 0, amounts: {} };
      this.totals.set(key, total);
    }
    total.contributions += 1;
    for (const name in amounts) {
      total.amounts[name] = (total.amounts[name] ?? 0) + (amounts[name] ?? 0);
    }
  }

  /** Takes back a contribution added earlier (the caller remembers what it added). */
  remove(key: string, amounts: Readonly<Amounts>): void {
    const total = this.totals.get(key);
    if (total === undefined) {
      return;
    }
    total.contributions -= 1;
    if (total.contributions <= 0) {
      this.totals.delete(key);
      return;
    }
    for (const name in amounts) {
      total.amounts[name] = (total.amounts[name] ?? 0) - (amounts[name] ?? 0);
    }
  }

  /** The key's sums (empty when nothing contributes); read-only, valid until the next change. */
  get(key: string): Readonly<Amounts> {
    return this.totals.get(key)?.amounts ?? NONE;
  }

  contributions(key: string): number {
    return this.totals.get(key)?.contributions ?? 0;
  }

  keys(): IterableIterator<string> {
    return this.totals.keys();
  }
}
