import { toError } from './retry.ts';
import type { QueueMessage, TopicName } from './types.ts';

/** A message as it travels: the key and the JSON text of its value (Kafka record, memory partition). */
export interface EncodedMessage {
  key: string;
  value: string;
  /** Trace context (W3C traceparent/tracestate) when tracing is on. */
  headers?: Record<string, string>;
}

/** Record headers as kafkajs hands them. */
export type EncodedHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

/** A record read back: Kafka hands Buffers (or null), the in-process queue strings. */
export interface EncodedRecord {
  key: Buffer | string | null;
  value: Buffer | string | null;
  /** Offset within the partition (decimal string). */
  offset: string;
  headers?: EncodedHeaders;
}

/** A record decoded for delivery; a value that is not JSON is kept as `text` with `error` (why it did not parse). */
export type Decoded = { partition: number; offset: string } & ({ ok: true; message: QueueMessage } | { ok: false; key: string; text: string; error: Error });

/**
 * Serializes a whole batch first (all or nothing), as both queues publish it: the key must be
 * a string, the value JSON-serializable (a Date becomes its ISO string, like on the wire).
 */
export function encodeMessages(messages: readonly { key: string; value: unknown }[]): EncodedMessage[] {
  return messages.map(({ key, value }) => {
    if (typeof key !== 'string') throw new TypeError('queue message key must be a string');
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('queue message value is not JSON-serializable');
    return { key, value: json };
  });
}

const text = (b: Buffer | string | null): string | undefined => (b === null ? undefined : typeof b === 'string' ? b : b.toString('utf8'));

/** The headers a handler sees: one string each (the first of a repeated header). */
function headersOf(raw: EncodedHeaders | undefined): Record<string, string> | undefined {
  if (!raw) return undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) headers[name] = text(first)!;
  }
  return Object.keys(headers).length > 0 ? headers : undefined;
}

/** The message a handler gets (`attempt` is set by whoever runs the handler); a missing key is '', a missing value null. */
export function decodeRecord(topic: TopicName, partition: number, record: EncodedRecord): Decoded {
  const key = text(record.key) ?? '';
  const raw = text(record.value) ?? 'null';
  try {
    const value: unknown = JSON.parse(raw);
    const headers = headersOf(record.headers);
    return { ok: true, partition, offset: record.offset, message: { topic, key, value, partition, offset: record.offset, ...(headers ? { headers } : {}) } };
  } catch (err) {
    return { ok: false, key, text: raw, partition, offset: record.offset, error: toError(err) };
  }
}
