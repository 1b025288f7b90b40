import { describe, expect, it } from '@jest/globals';
import { watchEvents, type WatchEvent } from '../../../src/runtime/watch-stream.js';

async function parse(chunks: Array<string | Buffer>): Promise<Array<WatchEvent<{ metadata: { name: string } }>>> {
  const events: Array<WatchEvent<{ metadata: { name: string } }>> = [];
  async function* body(): AsyncGenerator<string | Buffer> {
    yield* chunks;
  }
  for await (const event of watchEvents<{ metadata: { name: string } }>(body())) {
    events.push(event);
  }
  return events;
}

const line = (type: string, name: string): string => `${JSON.stringify({ type, object: { metadata: { name } } })}\n`;

describe('watchEvents', () => {
  it('parses one event per line, whatever the chunking', async () => {
    const text = line('ADDED', 'a') + line('MODIFIED', 'b') + line('DELETED', 'c');
    const whole = await parse([text]);
    expect(whole.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    // Split every few bytes, including inside a multi-byte character.
    const bytes = Buffer.from(line('ADDED', 'größe') + line('BOOKMARK', 'x'));
    const pieces = Array.from({ length: Math.ceil(bytes.length / 3) }, (_, i) => bytes.subarray(i * 3, i * 3 + 3));
    const split = await parse(pieces);
    expect(split).toEqual([
      { type: 'ADDED', object: { metadata: { name: 'größe' } } },
      { type: 'BOOKMARK', object: { metadata: { name: 'x' } } },
    ]);
  });

  it('skips blank lines and parses a last line without its newline', async () => {
    const events = await parse(['\n', line('ADDED', 'a'), '\r\n', line('ADDED', 'b').trim()]);
    expect(events.map((e) => (e.object as { metadata: { name: string } }).metadata.name)).toEqual(['a', 'b']);
  });

  it('rejects a malformed line with an error that shows it', async () => {
    await expect(parse([line('ADDED', 'a'), '{"type":"ADDED","object":{\n'])).rejects.toThrow(/malformed watch event .*"type":"ADDED"/);
    await expect(parse(['{"type":"SOMETHING","object":{}}\n'])).rejects.toThrow('no known type');
    await expect(parse(['{"type":"ADDED"}\n'])).rejects.toThrow('no object');
  });
});
