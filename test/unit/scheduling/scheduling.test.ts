import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import fc from 'fast-check';
import { filterForGang, filterReadsMembersInFlight, type GangInput, type NodeView } from '../../../src/scheduling/gang.js';
import { parseQuantity, podRequests, slots } from '../../../src/scheduling/resources.js';
import { score } from '../../../src/scheduling/scoring.js';
import { checkBindingArgs, checkExtenderArgs } from '../../../src/scheduling/wire.js';

const node = (name: string, o: Partial<NodeView> = {}): NodeView => ({
  name,
  zone: 'z1',
  allocatable: { cpu: 16, memory: 64 * 2 ** 30, pods: 110 },
  requested: {},
  members: 0,
  ...o,
});

describe('quantities and requests', () => {
  it.each([
    ['100m', 0.1],
    ['2', 2],
    ['1.5', 1.5],
    ['64Mi', 64 * 2 ** 20],
    ['1G', 1e9],
    ['2e3', 2000],
    ['abc', Number.NaN],
  ])('parseQuantity(%p) = %p', (q, v) => {
    expect(parseQuantity(q)).toBe(v);
  });

  it('sums containers and native sidecars, takes the larger init container, adds a pod slot', () => {
    const pod: k8s.V1Pod = {
      spec: {
        containers: [
          { name: 'a', resources: { requests: { cpu: '500m', memory: '1Gi' } } },
          { name: 'b', resources: { requests: { cpu: '250m' } } },
        ],
        initContainers: [
          { name: 'sidecar', restartPolicy: 'Always', resources: { requests: { cpu: '250m' } } },
          { name: 'init', resources: { requests: { cpu: '4' } } },
        ],
      },
    };
    expect(podRequests(pod)).toEqual({ cpu: 4, memory: 2 ** 30, pods: 1 });
  });

  it('counts how many more fit and what limits it', () => {
    expect(slots({ cpu: 10, memory: 100, pods: 110 }, { cpu: 3, memory: 10, pods: 1 })).toEqual({ count: 3, limitedBy: 'cpu' });
    expect(slots({ cpu: 10, 'example.com/gpu': 1, pods: 110 }, { cpu: 1, 'example.com/gpu': 1, pods: 1 })).toEqual({ count: 1, limitedBy: 'example.com/gpu' });
  });
});

describe('filterForGang', () => {
  const base = { group: 'ns/g', maxPerNode: undefined, request: { cpu: 5, pods: 1 } };

  it('passes every node that fits when there is no gang', () => {
    const v = filterForGang({ ...base, minAvailable: undefined, bound: 0, nodes: [node('a'), node('b', { requested: { cpu: 14 } })] });
    expect(v.passed).toEqual(['a']);
    expect(v.failed).toEqual({ b: 'insufficient cpu' });
    expect(v.gangMessage).toBeUndefined();
  });

  it('fails every node with a clear message when the group cannot reach minAvailable', () => {
    const v = filterForGang({ ...base, minAvailable: 5, bound: 2, nodes: [node('a', { requested: { cpu: 10 } })] });
    expect(v.gangMessage).toBe('PodGroup ns/g needs 5 members, 2 bound: 3 more must fit at once, 1 fits (a: 1), limited by cpu');
    expect(v.passed).toEqual([]);
    expect(v.failed).toEqual({ a: v.gangMessage });
  });

  it('says what fits where and in total, so three nodes with room for one each read as three', () => {
    const three = [node('n0', { requested: { cpu: 11 } }), node('n1', { requested: { cpu: 11 } }), node('n2', { requested: { cpu: 11 } })];
    const v = filterForGang({ ...base, minAvailable: 4, bound: 0, nodes: three });
    expect(v.gangMessage).toBe('PodGroup ns/g needs 4 members, 0 bound: 4 more must fit at once, 3 fit (n0: 1, n1: 1, n2: 1), limited by cpu');
    const none = filterForGang({ ...base, minAvailable: 2, bound: 0, nodes: [node('a', { requested: { cpu: 16 } }), node('b', { requested: { cpu: 16 } })] });
    expect(none.gangMessage).toBe('PodGroup ns/g needs 2 members, 0 bound: 2 more must fit at once, 0 fit (all 2 candidate nodes are full), limited by cpu');
    const many = Array.from({ length: 8 }, (_, i) => node(`m${i}`, { requested: { cpu: i < 7 ? 11 : 16 } }));
    const bounded = filterForGang({ ...base, minAvailable: 20, bound: 0, nodes: many });
    expect(bounded.gangMessage).toBe(
      'PodGroup ns/g needs 20 members, 0 bound: 20 more must fit at once, 7 fit (m0: 1, m1: 1, m2: 1, m3: 1, m4: 1, 2 more nodes: 2; 1 node full), limited by cpu',
    );
  });

  it('places a member once bound + room reach minAvailable', () => {
    const v = filterForGang({ ...base, minAvailable: 5, bound: 2, nodes: [node('a'), node('b', { requested: { cpu: 10 } })] });
    expect(v.room).toBe(4);
    expect(v.passed).toEqual(['a', 'b']);
  });

  it('limits by extended resources and by maxPerNode', () => {
    const gpu = filterForGang({
      group: 'ns/g',
      minAvailable: 3,
      maxPerNode: undefined,
      bound: 0,
      request: { cpu: 1, 'example.com/gpu': 1, pods: 1 },
      nodes: [node('a', { allocatable: { cpu: 16, 'example.com/gpu': 2, pods: 110 } })],
    });
    expect(gpu.gangMessage).toBe('PodGroup ns/g needs 3 members, 0 bound: 3 more must fit at once, 2 fit (a: 2), limited by example.com/gpu');
    const perNode = filterForGang({ ...base, minAvailable: 3, maxPerNode: 1, bound: 0, nodes: [node('a', { members: 1 }), node('b')] });
    expect(perNode.gangMessage).toBe('PodGroup ns/g needs 3 members, 0 bound: 3 more must fit at once, 1 fits (b: 1; 1 node full), limited by maxPerNode');
    const fine = filterForGang({ ...base, minAvailable: undefined, maxPerNode: 1, bound: 1, nodes: [node('a', { members: 1 }), node('b')] });
    expect(fine).toMatchObject({ passed: ['b'], failed: { a: 'maxPerNode 1 reached' } });
  });
});

describe('filterReadsMembersInFlight', () => {
  /** The views once members in flight (node index, cpu) are bound: their node gains a member and their requests. */
  const land = (input: GangInput, inFlight: Array<[number, number]>): GangInput => {
    const nodes = input.nodes.map((n) => ({ ...n, requested: { ...n.requested } }));
    for (const [i, cpu] of inFlight) {
      const n = nodes[i % nodes.length] as NodeView;
      n.members += 1;
      n.requested.cpu = (n.requested.cpu ?? 0) + cpu;
      n.requested.pods = (n.requested.pods ?? 0) + 1;
    }
    return { ...input, bound: input.bound + inFlight.length, nodes };
  };
  /** kube-scheduler's NodeResourcesFit runs first, on its cache with the in-flight pods assumed: only nodes the pod still fits reach filter. */
  const sentBy = (after: GangInput, input: GangInput): GangInput => {
    const fits = new Set(
      after.nodes.filter((n) => filterForGang({ ...after, minAvailable: undefined, maxPerNode: undefined }).passed.includes(n.name)).map((n) => n.name),
    );
    return { ...input, nodes: input.nodes.filter((n) => fits.has(n.name)) };
  };
  const verdictOf = (input: GangInput): unknown => {
    const { passed, failed, gangMessage } = filterForGang(input);
    return { passed, failed, gangMessage };
  };
  const gangInput: fc.Arbitrary<GangInput> = fc.record({
    group: fc.constant('ns/g'),
    minAvailable: fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }),
    maxPerNode: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    bound: fc.integer({ min: 0, max: 8 }),
    request: fc.constantFrom(1, 2, 3).map((cpu) => ({ cpu, pods: 1 })),
    nodes: fc
      .array(fc.record({ cpu: fc.integer({ min: 0, max: 8 }), members: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 5 })
      .map((ns) => ns.map(({ cpu, members }, i) => node(`n${i}`, { allocatable: { cpu: 8, pods: 110 }, requested: { cpu }, members }))),
  });
  const inFlight = fc.array(fc.tuple(fc.nat(), fc.constantFrom(1, 2, 3)), { minLength: 1, maxLength: 3 });

  it('when it says no, where the members in flight land cannot change the verdict on any node kube-scheduler sends', () => {
    fc.assert(
      fc.property(gangInput, inFlight, (input, flying) => {
        fc.pre(!filterReadsMembersInFlight(input));
        const after = land(input, flying);
        expect(verdictOf(sentBy(after, input))).toEqual(verdictOf(sentBy(after, after)));
      }),
      { numRuns: 500 },
    );
  });

  it('does not wait with no maxPerNode and the gang already at minAvailable (or no gang)', () => {
    expect(filterReadsMembersInFlight({ minAvailable: undefined, maxPerNode: undefined, bound: 0 })).toBe(false);
    expect(filterReadsMembersInFlight({ minAvailable: 1, maxPerNode: undefined, bound: 0 })).toBe(true);
    expect(filterReadsMembersInFlight({ minAvailable: 5, maxPerNode: undefined, bound: 5 })).toBe(false);
  });

  it('waits with maxPerNode: a member landing on a node can fill it', () => {
    const input: GangInput = { group: 'ns/g', minAvailable: undefined, maxPerNode: 1, bound: 0, request: { cpu: 1, pods: 1 }, nodes: [node('a'), node('b')] };
    expect(filterReadsMembersInFlight(input)).toBe(true);
    const after = land(input, [[0, 1]]);
    expect(verdictOf(sentBy(after, input))).toMatchObject({ passed: ['a', 'b'] });
    expect(verdictOf(sentBy(after, after))).toMatchObject({ passed: ['b'], failed: { a: 'maxPerNode 1 reached' } });
  });

  it('waits while the gang is short: a member in flight can take more room than it adds to bound', () => {
    const input: GangInput = {
      group: 'ns/g',
      minAvailable: 4,
      maxPerNode: undefined,
      bound: 0,
      request: { cpu: 1, pods: 1 },
      nodes: [node('a', { allocatable: { cpu: 4, pods: 110 } })],
    };
    expect(filterReadsMembersInFlight(input)).toBe(true);
    const after = land(input, [[0, 2]]);
    expect(verdictOf(sentBy(after, input))).toMatchObject({ passed: ['a'], gangMessage: undefined });
    expect(verdictOf(sentBy(after, after))).toMatchObject({ passed: [] });
  });
});

describe('score', () => {
  it('Spread prefers emptier nodes and zones', () => {
    const zones = new Map([
      ['z1', 3],
      ['z2', 0],
    ]);
    const scores = score('Spread', [node('busy', { members: 3 }), node('empty', { members: 0 }), node('other-zone', { zone: 'z2' })], zones);
    const byHost = Object.fromEntries(scores.map((s) => [s.Host, s.Score]));
    expect(byHost['busy']).toBe(0);
    expect(byHost['other-zone']).toBe(10);
    expect(byHost['empty']).toBeGreaterThan(byHost['busy'] ?? 0);
    expect(byHost['empty']).toBeLessThan(10);
  });

  it('Pack prefers nodes with more members and utilisation', () => {
    const scores = score('Pack', [node('full', { members: 2, requested: { cpu: 12, memory: 48 * 2 ** 30 } }), node('empty')], new Map());
    expect(scores).toEqual([
      { Host: 'full', Score: 9 },
      { Host: 'empty', Score: 0 },
    ]);
  });

  it('scores stay within 0..10', () => {
    for (const policy of ['Spread', 'Pack'] as const) {
      for (const s of score(policy, [node('a', { members: 7, requested: { cpu: 99 } }), node('b', { zone: undefined })], new Map([['z1', 7]]))) {
        expect(s.Score).toBeGreaterThanOrEqual(0);
        expect(s.Score).toBeLessThanOrEqual(10);
      }
    }
  });
});

describe('wire validation', () => {
  it.each([
    [null, 'request body must be a JSON object'],
    [[], 'request body must be a JSON object'],
    [{ Pod: 'x', NodeNames: [] }, 'Pod with metadata.name is required'],
    [{ Pod: { metadata: { name: 'p' } } }, 'either Nodes or NodeNames is required'],
    [{ Pod: { metadata: { name: 'p' } }, NodeNames: [1] }, 'NodeNames must be a list of strings'],
    [{ Pod: { metadata: { name: 'p' } }, Nodes: { items: 'x' } }, 'Nodes must be a NodeList'],
    [{ Pod: { metadata: { name: 'p' } }, Nodes: { items: [null] } }, 'every item of Nodes needs metadata.name'],
  ])('rejects %j', (value, message) => {
    expect(checkExtenderArgs(value)).toContain(message);
  });

  it('accepts both node modes and checks binding args', () => {
    expect(checkExtenderArgs({ Pod: { metadata: { name: 'p' } }, NodeNames: ['a'] })).toBeUndefined();
    expect(checkExtenderArgs({ Pod: { metadata: { name: 'p' } }, Nodes: { items: [] } })).toBeUndefined();
    expect(checkBindingArgs({ PodName: 'p', PodNamespace: 'n', PodUID: 'u', Node: 'x' })).toBeUndefined();
    expect(checkBindingArgs({ PodName: 'p', PodNamespace: 'n', PodUID: 'u' })).toBe('Node is required');
  });
});
