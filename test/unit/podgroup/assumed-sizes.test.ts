import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { REVISION_MAX_REPLICAS_ANNOTATION, REVISION_REPLICAS_ANNOTATION } from '../../../src/api/podgroup.js';
import { AssumedSizes, olderThan } from '../../../src/podgroup/assumed-sizes.js';

const revision = (name: string, resourceVersion: string, replicas?: number, maxReplicas?: number): k8s.V1ControllerRevision => ({
  metadata: {
    name,
    namespace: 'ns',
    resourceVersion,
    annotations: {
      ...(replicas === undefined ? {} : { [REVISION_REPLICAS_ANNOTATION]: String(replicas) }),
      ...(maxReplicas === undefined ? {} : { [REVISION_MAX_REPLICAS_ANNOTATION]: String(maxReplicas) }),
    },
  },
  revision: 1,
});

describe('olderThan (resourceVersions as the assume cache compares them)', () => {
  it.each([
    ['9', '10', true],
    ['10', '10', false],
    ['11', '10', false],
    ['x', 'y', true],
    ['y', 'y', false],
    [undefined, '10', true],
    [undefined, undefined, false],
  ])('cached %s, written %s: %s', (cached, written, older) => {
    expect(olderThan(cached, written)).toBe(older);
  });
});

describe('AssumedSizes', () => {
  it('reads the recorded counts when nothing was written', () => {
    const memory = new AssumedSizes();
    const byHash = new Map([
      ['a', revision('pg-a', '5', 3, 4)],
      ['b', revision('pg-b', '6')],
    ]);
    expect(memory.sizes('ns/pg', byHash)).toEqual(new Map([['a', 3]]));
    expect(memory.maxReplicas('ns/pg', byHash)).toEqual(new Map([['a', 4]]));
  });

  it('answers with the count written until the cache shows that write, then with the cache', () => {
    const memory = new AssumedSizes();
    const stale = revision('pg-a', '5', 3, 4);
    memory.assume('ns/pg', stale, '7', 1, 5);
    expect(memory.sizes('ns/pg', new Map([['a', stale]]))).toEqual(new Map([['a', 1]]));
    expect(memory.maxReplicas('ns/pg', new Map([['a', stale]]))).toEqual(new Map([['a', 5]]));
    // Another owner's memory is its own.
    expect(memory.sizes('ns/other', new Map([['a', stale]]))).toEqual(new Map([['a', 3]]));
    // The cache caught up (and someone scaled it since): the cache wins, and the entry is gone.
    const fresh = revision('pg-a', '8', 2, 6);
    expect(memory.sizes('ns/pg', new Map([['a', fresh]]))).toEqual(new Map([['a', 2]]));
    expect(memory.sizes('ns/pg', new Map([['a', stale]]))).toEqual(new Map([['a', 3]]));
  });

  it('forgets revisions that are gone, and everything of a forgotten owner', () => {
    const memory = new AssumedSizes();
    const a = revision('pg-a', '5', 3);
    memory.assume('ns/pg', a, '7', 1, 5);
    memory.sizes('ns/pg', new Map());
    expect(memory.sizes('ns/pg', new Map([['a', a]]))).toEqual(new Map([['a', 3]]));
    memory.assume('ns/pg', a, '7', 1, 5);
    memory.forget('ns/pg');
    expect(memory.maxReplicas('ns/pg', new Map([['a', a]]))).toEqual(new Map());
  });
});
