// Write-ahead memory of the last status written per PodGroup: until the informer cache shows the
// write, the cached PodGroup still carries the old status, and the same status computed again
// from that same copy must not be written twice.

/** Per PodGroup (its key): the status last written (canonical JSON) and the resourceVersion it was computed from. */
export class WrittenStatuses {
  private readonly last = new Map<string, { basedOn: string | undefined; json: string }>();

  /** Whether exactly this status was already written from this very copy of the PodGroup (the cache has not caught up). */
  alreadyWritten(key: string, basedOn: string | undefined, json: string): boolean {
    const last = this.last.get(key);
    return last !== undefined && last.basedOn === basedOn && last.json === json;
  }

  wrote(key: string, basedOn: string | undefined, json: string): void {
    this.last.set(key, { basedOn, json });
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}
