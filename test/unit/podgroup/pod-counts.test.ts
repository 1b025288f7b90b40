import { describe, expect, it } from '@jest/globals';
import { classify } from '../../../src/podgroup/pod-counts.js';
import { pod } from './fixtures.js';

describe('classify', () => {
  it('sorts pods into active (new and old revision) and terminating; finished pods count for nothing', () => {
    const pods = [
      pod('new-1'),
      pod('old-1', { hash: 'old' }),
      pod('gone', { terminating: true }),
      pod('done', { phase: 'Succeeded', ready: false }),
      pod('old-gone', { hash: 'old', terminating: true }),
    ];
    const names = (ps: { metadata?: { name?: string } }[]): string[] => ps.map((p) => p.metadata?.name ?? '');
    const counts = classify(pods, 'new');
    expect(names(counts.active)).toEqual(['new-1', 'old-1']);
    expect(names(counts.newActive)).toEqual(['new-1']);
    expect(names(counts.oldActive)).toEqual(['old-1']);
    expect(names(counts.terminating)).toEqual(['gone', 'old-gone']);
  });
});
