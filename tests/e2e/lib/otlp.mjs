// OTLP for the end-to-end tests: the repo's own .proto files (src/otlp/proto) loaded with
// protobufjs, a strict reader of OTLP JSON (as the file exporter writes it), and one canonical
// form so that what a client sent and what arrived compare with deepStrictEqual.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { REPO_ROOT, protobuf } from './deps.mjs';
import { waitFor } from './collector.mjs';

const PROTO_DIR = path.join(REPO_ROOT, 'src', 'otlp', 'proto');

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false });
root.resolveAll();

export const ExportRequest = root.lookupType(
  'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
export const ExportResponse = root.lookupType(
  'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');

// google.rpc.Status, the body of an OTLP/HTTP error response.
export const RpcStatus = protobuf.parse(`
  syntax = "proto3";
  package google.rpc;
  message Status { int32 code = 1; string message = 2; }
`).root.lookupType('google.rpc.Status');

export const SpanKind = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 };

const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

// OTLP JSON → protobufjs plain object, checking the OTLP JSON mapping as the spec writes it:
// lowerCamelCase names only, trace/span ids as lowercase hex, enums as integers, 64-bit
// integers as strings. Throws naming the path of the first deviation.
export function fromOtlpJson(json, { strict = true, type = ExportRequest, at = '$' } = {}) {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${at}: expected an object, got ${JSON.stringify(json)}`);
  }
  const out = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key];
    const where = `${at}.${key}`;
    if (!field) throw new Error(`${where}: not a field of ${type.fullName} (OTLP JSON uses lowerCamelCase)`);
    if (value === null) continue;
    const one = (v, w) => convertValue(field, v, w, strict);
    if (field.repeated) {
      if (!Array.isArray(value)) throw new Error(`${where}: expected an array`);
      out[key] = value.map((v, i) => one(v, `${where}[${i}]`));
    } else {
      out[key] = one(value, where);
    }
  }
  return out;
}

function convertValue(field, v, where, strict) {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return fromOtlpJson(v, { strict, type: rt, at: where });
  if (rt instanceof protobuf.Enum) {
    if (typeof v !== 'number' && strict) throw new Error(`${where}: enum must be an integer, got ${JSON.stringify(v)}`);
    return typeof v === 'number' ? v : rt.values[v];
  }
  if (field.type === 'bytes') {
    if (typeof v !== 'string') throw new Error(`${where}: bytes must be a string`);
    if (ID_FIELDS.has(field.name)) {
      if (!/^([0-9a-f]{2})*$/.test(v)) throw new Error(`${where}: id must be lowercase hex, got ${JSON.stringify(v)}`);
      return Buffer.from(v, 'hex');
    }
    return Buffer.from(v, 'base64');
  }
  if (LONG_TYPES.has(field.type)) {
    if (strict && typeof v !== 'string') {
      throw new Error(`${where}: 64-bit integer must be a JSON string, got ${JSON.stringify(v)}`);
    }
    if (!/^-?\d+$/.test(String(v))) throw new Error(`${where}: not an integer: ${JSON.stringify(v)}`);
    return String(v);
  }
  return v;
}

const TO_OBJECT = { longs: String, enums: Number, defaults: false, arrays: false };

// Protobuf bytes of an ExportTraceServiceRequest → canonical form (see canonical()).
export function decodeRequest(bytes) {
  return ExportRequest.toObject(ExportRequest.decode(bytes), TO_OBJECT);
}

// OTLP JSON → protobuf bytes → decoded object: the JSON is compared as the protobuf it means.
export function jsonToProtoObject(json, opts) {
  const msg = ExportRequest.fromObject(fromOtlpJson(json, opts));
  return decodeRequest(ExportRequest.encode(msg).finish());
}

export function encodeRequest(json) {
  return Buffer.from(ExportRequest.encode(ExportRequest.fromObject(fromOtlpJson(json, { strict: false }))).finish());
}

// Deterministic JSON (object keys sorted) for keys and sorting.
export function stable(v) {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const ANY_VALUE_KEYS = new Set(['stringValue', 'boolValue', 'intValue', 'doubleValue', 'bytesValue',
  'arrayValue', 'kvlistValue']);

// proto3 has no presence for scalars: a zero written explicitly equals one left out. Not so for
// the members of AnyValue's oneof, where `intValue: 0` is a value.
function isDefaultScalar(k, v) {
  if (ANY_VALUE_KEYS.has(k)) return false;
  return v === 0 || v === '0' || v === '' || v === false || (v instanceof Uint8Array && v.length === 0);
}

// Bytes become hex; attribute lists (a map in OTLP's data model) are sorted by key; an empty
// status/resource/scope message is the same as an absent one.
function norm(v, key) {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) {
    const items = v.map((x) => norm(x));
    if (key === 'attributes' || key === 'values:kv') items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return items;
  }
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (isDefaultScalar(k, x)) continue;
      const n = norm(x, k === 'values' && key === 'kvlistValue' ? 'values:kv' : k);
      if ((k === 'status' || k === 'resource' || k === 'scope') && Object.keys(n).length === 0) continue;
      out[k] = n;
    }
    return out;
  }
  return v;
}

// Decoded ExportTraceServiceRequests → one canonical list, independent of how the spans were
// grouped into requests, resources and scopes on the way: [{resource, schemaUrl, scopeSpans:
// [{scope, schemaUrl, spans}]}], resources and scopes sorted by content, spans by (traceId,
// spanId). `keep(span)` filters spans (e.g. by trace id); groups left empty are dropped.
export function canonical(requests, keep = () => true) {
  const resources = new Map();
  for (const req of requests) {
    for (const rs of req.resourceSpans ?? []) {
      const resource = norm(rs.resource ?? {}, 'resource');
      const rkey = stable({ resource, schemaUrl: rs.schemaUrl ?? '' });
      if (!resources.has(rkey)) resources.set(rkey, { resource, schemaUrl: rs.schemaUrl ?? '', scopes: new Map() });
      const scopes = resources.get(rkey).scopes;
      for (const ss of rs.scopeSpans ?? []) {
        const scope = norm(ss.scope ?? {}, 'scope');
        const skey = stable({ scope, schemaUrl: ss.schemaUrl ?? '' });
        if (!scopes.has(skey)) scopes.set(skey, { scope, schemaUrl: ss.schemaUrl ?? '', spans: [] });
        for (const span of ss.spans ?? []) {
          const n = norm(span);
          if (keep(n)) scopes.get(skey).spans.push(n);
        }
      }
    }
  }
  const out = [];
  for (const [, r] of [...resources].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const scopeSpans = [];
    for (const [, s] of [...r.scopes].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (s.spans.length === 0) continue;
      s.spans.sort((a, b) => spanKey(a).localeCompare(spanKey(b)));
      scopeSpans.push({ scope: s.scope, schemaUrl: s.schemaUrl, spans: s.spans });
    }
    if (scopeSpans.length) out.push({ resource: r.resource, schemaUrl: r.schemaUrl, scopeSpans });
  }
  return out;
}

function spanKey(s) {
  return `${s.traceId ?? ''}/${s.spanId ?? ''}`;
}

export function countSpans(canon) {
  let n = 0;
  for (const r of canon) for (const s of r.scopeSpans) n += s.spans.length;
  return n;
}

// The file exporter's output: one OTLP JSON object per line. A line still being written (no
// newline yet) is left for the next read.
export function readJsonLines(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return [];
    throw e;
  }
  const end = text.lastIndexOf('\n');
  if (end < 0) return [];
  return text
    .slice(0, end)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: not JSON (${e.message}): ${l.slice(0, 200)}`);
      }
    });
}

// Every (traceId, spanId) in OTLP JSON lines, as "trace/span" strings (duplicates kept).
export function spanIdsInJson(lines) {
  const ids = [];
  for (const line of lines) {
    for (const rs of line.resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const sp of ss.spans ?? []) ids.push(`${sp.traceId}/${sp.spanId}`);
      }
    }
  }
  return ids;
}

// Waits until `file` holds every span of `wanted` ("trace/span" strings); returns the lines.
export async function waitForSpansInFile(file, wanted, { timeoutMs = 30000 } = {}) {
  const want = new Set(wanted);
  let have = new Set();
  return waitFor(`${want.size} spans in ${file}`, () => {
    const lines = readJsonLines(file);
    have = new Set(spanIdsInJson(lines));
    for (const id of want) if (!have.has(id)) return false;
    return lines;
  }, {
    timeoutMs,
    describe: () => {
      const missing = [...want].filter((id) => !have.has(id));
      return `${missing.length} of ${want.size} missing (e.g. ${missing.slice(0, 3).join(', ')})`;
    },
  });
}

export function randomHex(bytes) {
  return crypto.randomBytes(bytes).toString('hex');
}

// An OTLP JSON export request of `n` simple spans of one new trace; `ids` are "trace/span".
export function makeJsonRequest({ n = 1, service = 'e2e', name = 'op', attrs = {} } = {}) {
  const traceId = randomHex(16);
  const now = BigInt(Date.now()) * 1000000n;
  const spans = [];
  for (let i = 0; i < n; i++) {
    spans.push({
      traceId,
      spanId: randomHex(8),
      name: `${name}-${i}`,
      kind: SpanKind.SERVER,
      startTimeUnixNano: String(now + BigInt(i) * 1000n),
      endTimeUnixNano: String(now + BigInt(i) * 1000n + 500000n),
      attributes: Object.entries({ 'e2e.index': i, ...attrs }).map(([key, v]) => ({
        key,
        value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: String(v) },
      })),
    });
  }
  const json = {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ scope: { name: 'hodos-e2e' }, spans }],
    }],
  };
  return { json, ids: spans.map((s) => `${s.traceId}/${s.spanId}`), traceId };
}

// POSTs an OTLP/HTTP body; returns {status, headers, body: Buffer, text}.
export async function post(url, body, { contentType = 'application/json', headers = {} } = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType, ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const buf = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, body: buf, text: buf.toString('utf8') };
}

// The human-readable message of an OTLP/HTTP error response, whatever its encoding.
export function errorMessage(resp) {
  const ct = resp.headers.get('content-type') ?? '';
  if (ct.includes('protobuf')) {
    try {
      return RpcStatus.decode(resp.body).message;
    } catch {
      return '';
    }
  }
  if (ct.includes('json')) {
    try {
      const j = JSON.parse(resp.text);
      return j.message ?? j.error ?? resp.text;
    } catch {
      return resp.text;
    }
  }
  return resp.text;
}

// OTLP JSON lines → [{resource: {key: value}, scope, span}] with attribute lists as plain objects
// ({key: AnyValue}), for tests that look spans up rather than compare them whole.
export function flattenSpans(lines) {
  const out = [];
  const attrs = (list) => Object.fromEntries((list ?? []).map((kv) => [kv.key, kv.value]));
  for (const line of lines) {
    for (const rs of line.resourceSpans ?? []) {
      const resource = attrs(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          out.push({ resource, scope: ss.scope ?? {}, span, attributes: attrs(span.attributes) });
        }
      }
    }
  }
  return out;
}
