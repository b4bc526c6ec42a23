// The shapes of the Jaeger query API's JSON (docs/api.md), as far as the UI reads them.

export type TagValue = string | number | boolean;

export interface KeyValue {
  key: string;
  type: string;
  value: TagValue;
}

export interface Reference {
  refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  traceID: string;
  spanID: string;
}

export interface Log {
  timestamp: number; // µs since the epoch
  fields: KeyValue[];
}

export interface Process {
  serviceName: string;
  tags: KeyValue[];
}

export interface Span {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Reference[];
  startTime: number; // µs since the epoch
  duration: number; // µs
  tags: KeyValue[];
  logs: Log[];
  processID: string;
  warnings: string[] | null;
  flags?: number;
}

export interface Trace {
  traceID: string;
  spans: Span[];
  processes: Record<string, Process>;
  warnings: string[] | null;
}

export interface Envelope<T> {
  data: T;
  total: number;
  limit: number;
  offset: number;
  errors: { code?: number; msg: string; traceID?: string }[] | null;
}

export function tagValue(tags: KeyValue[], key: string): TagValue | undefined {
  return tags.find((t) => t.key === key)?.value;
}

// A span failed when its status is ERROR (Jaeger's `error=true` tag, or otel.status_code).
export function isErrorSpan(span: Span): boolean {
  const err = tagValue(span.tags, 'error');
  return err === true || err === 'true' || tagValue(span.tags, 'otel.status_code') === 'ERROR';
}
