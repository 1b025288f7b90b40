// Expectations (kube-controller-manager's UIDTrackingControllerExpectations): after issuing
// creates and deletes for an owner, do not decide for it again until the informer has shown
// them, or a stale cache would make us create or delete the same pods twice. They expire after
// a timeout so a lost event cannot wedge an owner forever.

interface Entry {
  adds: number;
  /** Keys of pods whose deletion we await. */
  deletes: Set<string>;
  setAt: number;
}

export const EXPECTATIONS_TIMEOUT_MS = 5 * 60_000;

export class Expectations {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly now: () => number = () => Date.now(),
    private readonly timeoutMs = EXPECTATIONS_TIMEOUT_MS,
  ) {}

  /** True when nothing is outstanding for owner (or what is outstanding has expired). */
  satisfied(owner: string): boolean {
    const e = this.entries.get(owner);
    if (e === undefined) {
      return true;
    }
    if ((e.adds <= 0 && e.deletes.size === 0) || this.now() - e.setAt > this.timeoutMs) {
      this.entries.delete(owner);
      return true;
    }
    return false;
  }

  expect(owner: string, adds: number, deleteKeys: string[]): void {
    this.entries.set(owner, { adds, deletes: new Set(deleteKeys), setAt: this.now() });
  }

  creationObserved(owner: string): void {
    const e = this.entries.get(owner);
    if (e !== undefined) {
      e.adds -= 1;
    }
  }

  /** A create that failed or was never attempted will not be observed. */
  lowerAdds(owner: string, count: number): void {
    const e = this.entries.get(owner);
    if (e !== undefined) {
      e.adds -= count;
    }
  }

  deletionObserved(owner: string, podKey: string): void {
    this.entries.get(owner)?.deletes.delete(podKey);
  }

  forget(owner: string): void {
    this.entries.delete(owner);
  }

  pending(owner: string): { adds: number; deletes: number } | undefined {
    const e = this.entries.get(owner);
    return e === undefined ? undefined : { adds: e.adds, deletes: e.deletes.size };
  }
}
