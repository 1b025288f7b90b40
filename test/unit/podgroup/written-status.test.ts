import { describe, expect, it } from '@jest/globals';
import { WrittenStatuses } from '../../../src/podgroup/written-status.js';

describe('WrittenStatuses', () => {
  it('knows a status written from the same copy of the PodGroup, and only that', () => {
    const memory = new WrittenStatuses();
    expect(memory.alreadyWritten('ns/pg', '5', '{"replicas":1}')).toBe(false);
    memory.wrote('ns/pg', '5', '{"replicas":1}');
    expect(memory.alreadyWritten('ns/pg', '5', '{"replicas":1}')).toBe(true);
    // A newer copy (the write, or another change) or a different status is written again.
    expect(memory.alreadyWritten('ns/pg', '6', '{"replicas":1}')).toBe(false);
    expect(memory.alreadyWritten('ns/pg', '5', '{"replicas":2}')).toBe(false);
    expect(memory.alreadyWritten('ns/other', '5', '{"replicas":1}')).toBe(false);
    memory.forget('ns/pg');
    expect(memory.alreadyWritten('ns/pg', '5', '{"replicas":1}')).toBe(false);
  });
});
