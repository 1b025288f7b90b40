// The watch protocol as the API server speaks it over HTTP/1.1: one JSON object per line,
// {"type": "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR", "object": {...}}. Parsed here
// into plain objects, one line at a time, so a large initial stream is never held as one string.

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** The Status an ERROR event carries (e.g. 410 Expired when the resourceVersion is too old). */
export interface WatchStatus {
  code?: number;
  reason?: string;
  message?: string;
}

export type WatchEvent<T> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T }
  | { type: 'BOOKMARK'; object: { metadata?: { resourceVersion?: string; annotations?: Record<string, string> } } }
  | { type: 'ERROR'; object: WatchStatus };

const EVENT_TYPES = new Set<string>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);
const NEWLINE = 0x0a;

/** Splits a byte stream into lines and parses each as a watch event; a malformed line throws. */
export async function* watchEvents<T>(body: AsyncIterable<Buffer | string>): AsyncGenerator<WatchEvent<T>> {
  let pending: Buffer[] = [];
  for await (const data of body) {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    let start = 0;
    for (let newline = chunk.indexOf(NEWLINE); newline !== -1; newline = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, newline);
      const line = pending.length === 0 ? piece : Buffer.concat([...pending, piece]);
      pending = [];
      start = newline + 1;
      const event = parseWatchLine<T>(line);
      if (event !== undefined) {
        yield event;
      }
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
    }
  }
  const rest = parseWatchLine<T>(Buffer.concat(pending));
  if (rest !== undefined) {
    yield rest;
  }
}

/** One line of a watch stream: an event, undefined for a blank line, or an error naming what is wrong. */
export function parseWatchLine<T>(line: Buffer): WatchEvent<T> | undefined {
  const text = line.toString('utf8').trim();
  if (text === '') {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`malformed watch event (${err instanceof Error ? err.message : String(err)}): ${text.slice(0, 200)}`);
  }
  const event = parsed as { type?: unknown; object?: unknown };
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string' || !EVENT_TYPES.has(event.type)) {
    throw new Error(`malformed watch event (no known type): ${text.slice(0, 200)}`);
  }
  if (typeof event.object !== 'object' || event.object === null) {
    throw new Error(`malformed watch event (no object): ${text.slice(0, 200)}`);
  }
  return event as WatchEvent<T>;
}
