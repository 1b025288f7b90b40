import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { listAll, type ListPage, type ResourceType } from '../../../src/runtime/resources.js';

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
  };
}

const cm = (name: string): k8s.V1ConfigMap => ({ metadata: { name, namespace: 'ns' } });

describe('listAll', () => {
  it("follows the API server's metadata.continue (plain JSON lists) to the last page", async () => {
    const tokens: Array<string | undefined> = [];
    const list = await listAll(
      paged(
        [
          { items: [cm('a')], metadata: { resourceVersion: '10', continue: 'page-2' } },
          { items: [cm('b')], metadata: { resourceVersion: '10', continue: '' } },
        ],
        tokens,
      ),
      {},
    );
    expect(tokens).toEqual([undefined, 'page-2']);
    expect(list.items.map((i) => i.metadata?.name)).toEqual(['a', 'b']);
    expect(list.metadata?.resourceVersion).toBe('10');
    // List items carry no apiVersion/kind: restored so every cached object is self-describing.
    expect(list.items[0]).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
  });

  it("follows client-node's typed _continue too", async () => {
    const tokens: Array<string | undefined> = [];
    await listAll(
      paged(
        [
          { items: [cm('a')], metadata: { _continue: 'next' } },
          { items: [cm('b')], metadata: {} },
        ],
        tokens,
      ),
      {},
    );
    expect(tokens).toEqual([undefined, 'next']);
  });
});
