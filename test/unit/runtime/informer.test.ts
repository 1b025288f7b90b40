// The informer's list/watch logic through an injected ResourceType: lists and watches answer from
// scripts (pages, watch events, errors, streams that hang until aborted), so every recovery path,
// the WatchList protocol and its fallback run without any API server.
import { afterEach, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { backoffDelay, dropManagedFields, INITIAL_EVENTS_END, Informer, type InformerOptions } from '../../../src/runtime/informer.js';
import { registry } from '../../../src/runtime/metrics.js';
import type { ListPage, ResourceType, WatchOptions } from '../../../src/runtime/resources.js';
import type { WatchEvent } from '../../../src/runtime/watch-stream.js';

type Cm = k8s.V1ConfigMap;

const configMap = (name: string, rv: string): Cm => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{ manager: 'kubectl' }] },
});

const added = (o: Cm): WatchEvent<Cm> => ({ type: 'ADDED', object: structuredClone(o) });
const bookmark = (rv: string, initialEventsEnd = false): WatchEvent<Cm> => ({
  type: 'BOOKMARK',
  object: { metadata: { resourceVersion: rv, ...(initialEventsEnd ? { annotations: { [INITIAL_EVENTS_END]: 'true' } } : {}) } },
});

/** A watch answer: an error to throw, or events after which the stream ends (or hangs until aborted). */
type WatchStep = Error | { events: Array<WatchEvent<Cm>>; hang?: boolean };

async function* stream(step: { events: Array<WatchEvent<Cm>>; hang?: boolean }, signal: AbortSignal): AsyncGenerator<WatchEvent<Cm>> {
  for (const event of step.events) {
    yield event;
  }
  if (step.hang === true) {
    await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
  }
}

/** A resource whose lists and watches answer from scripts; the last step repeats. */
function scriptedResource(
  lists: Array<Error | Cm[]>,
  watches: WatchStep[] = [{ events: [], hang: true }],
): ResourceType<Cm> & { calls: number; watchCalls: WatchOptions[] } {
  const resource = {
    calls: 0,
    watchCalls: [] as WatchOptions[],
    name: 'configmaps',
    apiVersion: 'v1',
    kind: 'ConfigMap',
    path: '/api/v1/configmaps',
    async listPage(): Promise<ListPage<Cm>> {
      const step = lists[Math.min(resource.calls, lists.length - 1)];
      resource.calls += 1;
      if (step instanceof Error || step === undefined) {
        throw step ?? new Error('script ended');
      }
      return { items: step.map((o) => structuredClone(o)), metadata: { resourceVersion: '10' } };
    },
    async watch(options: WatchOptions, signal: AbortSignal): Promise<AsyncIterable<WatchEvent<Cm>>> {
      const step = watches[Math.min(resource.watchCalls.length, watches.length - 1)];
      resource.watchCalls.push(options);
      if (step instanceof Error || step === undefined) {
        throw step ?? new Error('script ended');
      }
      return stream(step, signal);
    },
  };
  return resource;
}

const unprocessable = (): k8s.ApiException<string> =>
  new k8s.ApiException(
    422,
    'GET /api/v1/configmaps: HTTP 422',
    JSON.stringify({
      kind: 'Status',
      code: 422,
      reason: 'Invalid',
      message: 'sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled',
    }),
    {},
  );

const until = async (what: string, check: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value)).reduce((sum, v) => sum + v.value, 0) ?? 0;
}

describe('backoffDelay', () => {
  it('doubles per attempt within ±20 % jitter and caps at max', () => {
    const backoff = { initialMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, backoff, () => 0.5)).toBe(100);
    expect(backoffDelay(1, backoff, () => 0.5)).toBe(200);
    expect(backoffDelay(3, backoff, () => 0.5)).toBe(800);
    expect(backoffDelay(10, backoff, () => 0.5)).toBe(1000);
    expect(backoffDelay(0, backoff, () => 0)).toBe(80);
    expect(backoffDelay(0, backoff, () => 1)).toBe(120);
    expect(backoffDelay(10_000, backoff, () => 0.5)).toBe(1000);
  });
});

describe('Informer', () => {
  const informers: Informer<Cm>[] = [];
  const newInformer = (resource: ResourceType<Cm>, options: InformerOptions<Cm>): Informer<Cm> => {
    const informer = new Informer(resource, options);
    informers.push(informer);
    return informer;
  };
  afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
  });

  it('retries failed lists with backoff and is synced only after one succeeds', async () => {
    const resource = scriptedResource([new Error('boom 1'), new Error('boom 2'), [configMap('a', '1')]]);
    const informer = newInformer(resource, { initialList: 'list', backoff: { initialMs: 20, maxMs: 40 }, transform: dropManagedFields });
    informer.start();
    await until('two failed lists', () => resource.calls >= 2);
    expect(informer.hasSynced()).toBe(false);
    await informer.waitForSync();
    expect(resource.calls).toBeGreaterThanOrEqual(3);
    const cached = informer.store.get('ns/a');
    expect(cached?.metadata?.resourceVersion).toBe('1');
    expect(cached?.metadata?.managedFields).toBeUndefined();
    // The watch resumes from the list's resourceVersion, with bookmarks and a server-side timeout.
    await until('watch opened', () => resource.watchCalls.length >= 1);
    expect(resource.watchCalls[0]).toMatchObject({ resourceVersion: '10', allowWatchBookmarks: true });
    expect(resource.watchCalls[0]?.sendInitialEvents).toBeUndefined();
    expect(resource.watchCalls[0]?.timeoutSeconds).toBeGreaterThanOrEqual(300);
  });

  it('relists after a watch failure and reports objects that vanished meanwhile as deleted', async () => {
    const resource = scriptedResource([[configMap('a', '1'), configMap('b', '1')], [configMap('a', '2')]], [new Error('connection refused')]);
    const informer = newInformer(resource, { initialList: 'list', backoff: { initialMs: 10, maxMs: 20 } });
    const deleted: string[] = [];
    const updated: string[] = [];
    informer.addEventHandler({
      onDelete: (o) => deleted.push(o.metadata?.name ?? ''),
      onUpdate: (_old, o) => updated.push(`${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    });
    informer.start();
    await until('b deleted after relist', () => deleted.includes('b'));
    expect(updated).toContain('a@2');
    expect(informer.store.get('ns/b')).toBeUndefined();
    expect(informer.hasSynced()).toBe(true);
  });

  it('stays stopped: stop() during backoff ends the loop and lists no more', async () => {
    const resource = scriptedResource([new Error('always')]);
    const informer = new Informer(resource, { initialList: 'list', backoff: { initialMs: 60_000, maxMs: 60_000 } });
    informer.start();
    await until('first failure', () => resource.calls >= 1);
    const syncing = informer.waitForSync();
    const stopped = Date.now();
    await informer.stop();
    expect(Date.now() - stopped).toBeLessThan(1000);
    await expect(syncing).rejects.toThrow('stopped before it synced');
    const calls = resource.calls;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(resource.calls).toBe(calls);
  });

  it('isolates handlers: a throwing handler does not stop others or the informer', async () => {
    const resource = scriptedResource([[configMap('a', '1')]]);
    const informer = newInformer(resource, { initialList: 'list', backoff: { initialMs: 1000, maxMs: 1000 } });
    const seen: string[] = [];
    informer.addEventHandler({
      onAdd: () => {
        throw new Error('handler bug');
      },
    });
    informer.addEventHandler({ onAdd: (o) => seen.push(o.metadata?.name ?? '') });
    informer.start();
    await informer.waitForSync();
    expect(seen).toEqual(['a']);
  });

  it('re-watches from the last resourceVersion when the server ends a watch', async () => {
    const modified: WatchEvent<Cm> = { type: 'MODIFIED', object: { ...configMap('a', '12'), data: { v: '2' } } };
    const resource = scriptedResource([[configMap('a', '1')]], [{ events: [modified, bookmark('15')] }, { events: [], hang: true }]);
    const informer = newInformer(resource, { initialList: 'list' });
    informer.start();
    await until('second watch', () => resource.watchCalls.length >= 2);
    expect(resource.watchCalls.map((w) => w.resourceVersion)).toEqual(['10', '15']);
    expect(informer.store.get('ns/a')?.data?.v).toBe('2');
    expect(resource.calls).toBe(1);
  });

  it('restarts a watch that goes silent (stall timeout), aborting its request', async () => {
    const resource = scriptedResource([[configMap('a', '1')]], [{ events: [], hang: true }]);
    const informer = newInformer(resource, { initialList: 'list', stallTimeoutMs: 150, backoff: { initialMs: 10, maxMs: 10 } });
    const before = await counter('podgroup_informer_restarts_total', { resource: 'configmaps', reason: 'stalled' });
    informer.start();
    await until('a relist after the stall', () => resource.calls >= 2);
    expect(await counter('podgroup_informer_restarts_total', { resource: 'configmaps', reason: 'stalled' })).toBeGreaterThan(before);
  });

  describe('WatchList', () => {
    it('loads the initial state from one stream, synced only at the initial-events-end bookmark, then keeps watching it', async () => {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      async function* initial(): AsyncGenerator<WatchEvent<Cm>> {
        yield added(configMap('a', '5'));
        yield bookmark('6');
        await gate;
        yield added(configMap('b', '7'));
        yield bookmark('8', true);
        yield { type: 'DELETED', object: configMap('a', '9') };
        await new Promise(() => undefined);
      }
      const resource = scriptedResource([new Error('no list expected')]);
      resource.watch = async (options) => {
        resource.watchCalls.push(options);
        return initial();
      };
      const before = await counter('podgroup_informer_initial_lists_total', { resource: 'configmaps', method: 'watch-list' });
      const informer = newInformer(resource, { transform: dropManagedFields });
      const deleted: string[] = [];
      // A deleted object reaches handlers transformed too.
      informer.addEventHandler({ onDelete: (o) => deleted.push(o.metadata?.managedFields === undefined ? (o.metadata?.name ?? '') : 'untransformed') });
      informer.start();
      await until('a added', () => informer.store.get('ns/a') !== undefined);
      expect(informer.hasSynced()).toBe(false);
      release();
      await informer.waitForSync();
      expect(resource.watchCalls).toEqual([
        expect.objectContaining({ resourceVersion: '', resourceVersionMatch: 'NotOlderThan', sendInitialEvents: true, allowWatchBookmarks: true }),
      ]);
      expect(informer.store.get('ns/b')?.metadata?.managedFields).toBeUndefined();
      await until('a deleted on the same stream', () => deleted.includes('a'));
      expect(resource.calls).toBe(0);
      expect(await counter('podgroup_informer_initial_lists_total', { resource: 'configmaps', method: 'watch-list' })).toBe(before + 1);
    });

    it('prunes objects missing from a relist streamed by WatchList', async () => {
      const resource = scriptedResource(
        [new Error('no list expected')],
        [
          { events: [added(configMap('a', '1')), added(configMap('b', '1')), bookmark('2', true)] },
          new Error('connection reset'),
          { events: [added(configMap('a', '3')), bookmark('4', true)], hang: true },
        ],
      );
      const informer = newInformer(resource, { backoff: { initialMs: 10, maxMs: 10 } });
      const deleted: string[] = [];
      informer.addEventHandler({ onDelete: (o) => deleted.push(o.metadata?.name ?? '') });
      informer.start();
      await until('b pruned', () => deleted.includes('b'));
      expect([...informer.store.keys()]).toEqual(['ns/a']);
    });

    it('falls back to a paginated list when the API server refuses it (WatchList off), and stays with list', async () => {
      const resource = scriptedResource(
        [[configMap('a', '1')], [configMap('a', '2')]],
        [unprocessable(), new Error('connection reset'), { events: [], hang: true }],
      );
      const before = await counter('podgroup_informer_initial_lists_total', { resource: 'configmaps', method: 'list' });
      const informer = newInformer(resource, { backoff: { initialMs: 10, maxMs: 10 } });
      informer.start();
      await informer.waitForSync();
      expect(informer.store.get('ns/a')?.metadata?.resourceVersion).toBe('1');
      expect(resource.watchCalls[0]?.sendInitialEvents).toBe(true);
      await until('relisted after the watch failed', () => resource.calls >= 2);
      await until('third watch', () => resource.watchCalls.length >= 3);
      // The refusal is remembered: the relist asked for a plain list, not another WatchList.
      expect(resource.watchCalls.slice(1).map((w) => w.sendInitialEvents)).toEqual([undefined, undefined]);
      expect(await counter('podgroup_informer_initial_lists_total', { resource: 'configmaps', method: 'list' })).toBeGreaterThanOrEqual(before + 2);
    });

    it('falls back to list when the stream ends before the initial-events-end bookmark (a server that ignores sendInitialEvents)', async () => {
      const resource = scriptedResource([[configMap('a', '1'), configMap('b', '1')]], [{ events: [added(configMap('a', '1'))] }, { events: [], hang: true }]);
      const informer = newInformer(resource, {});
      informer.start();
      await informer.waitForSync();
      expect(resource.calls).toBe(1);
      expect(informer.store.size).toBe(2);
    });
  });

  it('relists at once after 410 Gone, without backoff', async () => {
    const gone: WatchEvent<Cm> = { type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old resource version: 10 (20)' } };
    const resource = scriptedResource([[configMap('a', '1')], [configMap('a', '2')]], [{ events: [gone] }, { events: [], hang: true }]);
    const before = await counter('podgroup_informer_restarts_total', { resource: 'configmaps', reason: 'expired' });
    const informer = newInformer(resource, { initialList: 'list', backoff: { initialMs: 60_000, maxMs: 60_000 } });
    informer.start();
    await until('relisted', () => informer.store.get('ns/a')?.metadata?.resourceVersion === '2');
    expect(await counter('podgroup_informer_restarts_total', { resource: 'configmaps', reason: 'expired' })).toBe(before + 1);
  });

  describe('applies a large initial state in slices, letting the event loop run in between', () => {
    const many = Array.from({ length: 600 }, (_, i) => configMap(`cm-${i}`, '1'));
    /** A handler that costs ~0.1 ms per object (a stand-in for real handler work). */
    const costly = (sequence: string[]): ((o: Cm) => void) => {
      return (o) => {
        const until = performance.now() + 0.1;
        while (performance.now() < until) {
          // busy: the cost of handling one object
        }
        sequence.push(o.metadata?.name ?? '');
      };
    };

    it.each([
      ['list', scriptedResource([many])],
      ['watch-list', scriptedResource([new Error('no list expected')], [{ events: [...many.map(added), bookmark('2', true)], hang: true }])],
    ] as const)('%s', async (method, resource) => {
      const sequence: string[] = [];
      const informer = newInformer(resource, { initialList: method });
      informer.addEventHandler({ onAdd: costly(sequence) });
      let ticking = true;
      const tick = (): void => {
        sequence.push('tick');
        if (ticking) {
          setImmediate(tick);
        }
      };
      informer.start();
      setImmediate(tick);
      await informer.waitForSync();
      ticking = false;
      const first = sequence.indexOf('cm-0');
      const last = sequence.indexOf('cm-599');
      expect(first).toBeGreaterThanOrEqual(0);
      // One page (or one stream) of 600 objects, yet the loop ran other work while it was applied.
      expect(sequence.slice(first, last).filter((s) => s === 'tick').length).toBeGreaterThanOrEqual(2);
      expect(informer.store.size).toBe(600);
    });
  });
});
