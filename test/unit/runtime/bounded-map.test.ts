import { describe, expect, it } from '@jest/globals';
import { BoundedMap } from '../../../src/runtime/bounded-map.js';

describe('BoundedMap', () => {
  it('evicts the oldest entries to stay within its byte budget', () => {
    const map = new BoundedMap<string, number>(100, 60_000, () => 0);
    for (let i = 0; i < 10; i += 1) {
      map.set(`k${i}`, i, 30);
    }
    expect(map.bytes).toBeLessThanOrEqual(100);
    expect([...map].map(([k]) => k)).toEqual(['k7', 'k8', 'k9']);
    expect(map.get('k0')).toBeUndefined();
  });

  it('replaces an entry under the same key and never keeps one larger than the budget', () => {
    const map = new BoundedMap<string, string>(100, 60_000, () => 0);
    map.set('a', 'x', 40);
    map.set('a', 'y', 50);
    expect(map.size).toBe(1);
    expect(map.bytes).toBe(50);
    map.set('huge', 'z', 101);
    expect(map.get('huge')).toBeUndefined();
    expect(map.get('a')).toBe('y');
  });

  it('expires entries after their lifetime', () => {
    let now = 0;
    const map = new BoundedMap<string, number>(1000, 1_000, () => now);
    map.set('a', 1, 10);
    now = 500;
    map.set('b', 2, 10);
    now = 1_000;
    expect(map.get('a')).toBeUndefined();
    expect(map.get('b')).toBe(2);
    now = 1_600;
    expect([...map]).toEqual([]);
    expect(map.bytes).toBe(0);
  });

  it('reports evictions by budget and expiry, not explicit deletes or replacements', () => {
    let now = 0;
    const evicted: string[] = [];
    const map = new BoundedMap<string, number>(
      100,
      1_000,
      () => now,
      (key, value) => evicted.push(`${key}=${value}`),
    );
    map.set('a', 1, 40);
    map.set('a', 2, 40);
    map.set('b', 3, 40);
    map.delete('b');
    map.set('c', 4, 40);
    map.set('d', 5, 40);
    expect(evicted).toEqual(['a=2']);
    now = 1_000;
    expect(map.get('c')).toBeUndefined();
    map.prune();
    expect(evicted).toEqual(['a=2', 'c=4', 'd=5']);
  });
});
