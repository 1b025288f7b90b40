import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { listPages, type ListPage, type ResourceType } from '../../../src/runtime/resources.js';

/** A resource whose pages come from a table, recording the continue token of each request. */
function paged(pages: Array<ListPage<k8s.V1ConfigMap>>, tokens: Array<string | undefined>): ResourceType<k8s.V1ConfigMap> {
  return {
    name: 'configmaps',
    apiVersion: 'v1',
    kind: 'ConfigMap',
    path: '/api/v1/configmaps',
    listPage: async (o) => {
      tokens.push(o.continueToken);
      return pages[tokens.length - 1] ?? { items: [] };
    },
    watch: () => Promise.reject(new Error('not used')),
  };
}

const cm = (name: string): k8s.V1ConfigMap => ({ metadata: { name, namespace: 'ns' } });

async function collect(pages: AsyncIterable<ListPage<k8s.V1ConfigMap>>): Promise<Array<ListPage<k8s.V1ConfigMap>>> {
  const all: Array<ListPage<k8s.V1ConfigMap>> = [];
  for await (const page of pages) {
    all.push(page);
  }
  return all;
}

describe('listPages', () => {
  it("follows the API server's metadata.continue (plain JSON lists) to the last page", async () => {
    const tokens: Array<string | undefined> = [];
    const pages = await collect(
      listPages(
        paged(
          [
            { items: [cm('a')], metadata: { resourceVersion: '10', continue: 'page-2' } },
            { items: [cm('b')], metadata: { resourceVersion: '10', continue: '' } },
          ],
          tokens,
        ),
        {},
      ),
    );
    expect(tokens).toEqual([undefined, 'page-2']);
    const items = pages.flatMap((p) => p.items);
    expect(items.map((i) => i.metadata?.name)).toEqual(['a', 'b']);
    expect(pages.at(-1)?.metadata?.resourceVersion).toBe('10');
    // List items carry no apiVersion/kind: restored so every cached object is self-describing.
    expect(items[0]).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
  });

  it("follows client-node's typed _continue too", async () => {
    const tokens: Array<string | undefined> = [];
    await collect(
      listPages(
        paged(
          [
            { items: [cm('a')], metadata: { _continue: 'next' } },
            { items: [cm('b')], metadata: {} },
          ],
          tokens,
        ),
        {},
      ),
    );
    expect(tokens).toEqual([undefined, 'next']);
  });
});
