import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { bindRefusal, type FilteredPod } from '../../../src/scheduling/binding.js';

const args = { PodName: 'p', PodNamespace: 'ns', PodUID: 'uid-1', Node: 'n1' };
const pod = (o: { uid?: string; schedulerName?: string; nodeName?: string } = {}): k8s.V1Pod => ({
  metadata: { name: 'p', namespace: 'ns', uid: o.uid ?? 'uid-1' },
  spec: { containers: [], schedulerName: o.schedulerName ?? 'podgroup-scheduler', nodeName: o.nodeName },
});
const filtered: FilteredPod = { uid: 'uid-1', passed: new Set(['n1', 'n2']) };
const ours = ['podgroup-scheduler'];

describe('bindRefusal', () => {
  it('allows a pod of our scheduler that passed filter for that node', () => {
    expect(bindRefusal(args, pod(), filtered, ours)).toBeUndefined();
  });

  it.each([
    ['a pod that does not exist', undefined, filtered, 'does not exist'],
    ["another scheduler's pod", pod({ schedulerName: 'default-scheduler' }), filtered, 'belongs to scheduler "default-scheduler"'],
    [
      "a pod without schedulerName (the default scheduler's)",
      { metadata: { uid: 'uid-1' }, spec: { containers: [] } },
      filtered,
      'belongs to scheduler "default-scheduler"',
    ],
    ['a UID mismatch', pod({ uid: 'uid-2' }), filtered, 'has UID uid-2, not uid-1'],
    ['a bound pod', pod({ nodeName: 'n2' }), filtered, 'already bound to n2'],
    ['a pod never filtered', pod(), undefined, "has not passed this extender's filter"],
    ['a filter memory of another pod with the same name', pod(), { uid: 'uid-0', passed: new Set(['n1']) }, "has not passed this extender's filter"],
    ['a node that did not pass', pod(), { uid: 'uid-1', passed: new Set(['n2']) }, 'node n1 did not pass'],
  ] as Array<[string, k8s.V1Pod | undefined, FilteredPod | undefined, string]>)('refuses %s', (_name, live, memory, message) => {
    expect(bindRefusal(args, live, memory, ours)).toContain(message);
  });
});
