// Restart logic with injected failures: the list function fails on demand and the watch
// endpoint refuses connections, so every recovery path runs without any API server.
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { backoffDelay, dropManagedFields, Informer } from '../../../src/runtime/informer.js';
import type { ListPage, ResourceType } from '../../../src/runtime/resources.js';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function kubeConfigForNothing(): Promise<k8s.KubeConfig> {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: `http://127.0.0.1:${await closedPort()}`, skipTLSVerify: true }],
    users: [{ name: 'none' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
    currentContext: 'none',
  });
  return kc;
}

const configMap = (name: string, rv: string): k8s.V1ConfigMap => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{ manager: 'kubectl' }] },
});

/** A resource whose list answers from a script of results: an Error to throw or a page. */
function scriptedResource(script: Array<Error | k8s.V1ConfigMap[]>): ResourceType<k8s.V1ConfigMap> & { calls: number } {
  const resource = {
    calls: 0,
    name: 'configmaps',
    apiVersion: 'v1',
    kind: 'ConfigMap',
    path: '/api/v1/configmaps',
    async listPage(): Promise<ListPage<k8s.V1ConfigMap>> {
      const step = script[Math.min(resource.calls, script.length - 1)];
      resource.calls += 1;
      if (step instanceof Error || step === undefined) {
        throw step ?? new Error('script ended');
      }
      return { items: step.map((o) => structuredClone(o)), metadata: { resourceVersion: '10' } };
    },
  };
  return resource;
}

const until = async (what: string, check: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

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

describe('Informer restarts', () => {
  const informers: Informer<k8s.V1ConfigMap>[] = [];
  afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
  });

  it('retries failed lists with backoff and is synced only after one succeeds', async () => {
    const resource = scriptedResource([new Error('boom 1'), new Error('boom 2'), [configMap('a', '1')]]);
    const informer = new Informer(await kubeConfigForNothing(), resource, {
      backoff: { initialMs: 20, maxMs: 40 },
      transform: dropManagedFields,
    });
    informers.push(informer);
    informer.start();
    await until('two failed lists', () => resource.calls >= 2);
    expect(informer.hasSynced()).toBe(false);
    await informer.waitForSync();
    expect(resource.calls).toBeGreaterThanOrEqual(3);
    const cached = informer.store.get('ns/a');
    expect(cached?.metadata?.resourceVersion).toBe('1');
    expect(cached?.metadata?.managedFields).toBeUndefined();
  });

  it('relists after a watch failure and reports objects that vanished meanwhile as deleted', async () => {
    // The watch endpoint refuses connections, so each generation ends in an error and relists.
    const resource = scriptedResource([[configMap('a', '1'), configMap('b', '1')], [configMap('a', '2')]]);
    const informer = new Informer(await kubeConfigForNothing(), resource, { backoff: { initialMs: 10, maxMs: 20 } });
    informers.push(informer);
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
    const informer = new Informer(await kubeConfigForNothing(), resource, { backoff: { initialMs: 60_000, maxMs: 60_000 } });
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
    const informer = new Informer(await kubeConfigForNothing(), resource, { backoff: { initialMs: 1000, maxMs: 1000 } });
    informers.push(informer);
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
});
