// The UI's client of the query and control API on the same origin. Off loopback the API needs a
// bearer token (docs/api.md#authentication): the user pastes the one `hodos up` printed, and it is
// kept in this browser's localStorage. The page assets themselves need none.
import { Envelope, Trace } from './jaeger';
import { DependencyLink, MetricFamily } from './metrics';

const TOKEN_KEY = 'hodos.apiToken';

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

export function savedToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveToken(token: string): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private mode without storage: the token lasts until reload.
  }
}

// `sentToken` is the token the refused request carried ('' when none was saved): a refused token
// is worth saying so, a missing one only needs asking for.
type UnauthorizedListener = (sentToken: string) => void;
const listeners = new Set<UnauthorizedListener>();
// Called when an answer is 401, so that the app can ask for the token.
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = savedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, `cannot reach hodos (${(e as Error).message}): is \`hodos up\` still running?`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.status === 401) listeners.forEach((l) => l(token));
  if (!response.ok) {
    const msg = (parsed as Envelope<unknown> | undefined)?.errors?.[0]?.msg ?? (text.slice(0, 200) || response.statusText);
    throw new ApiError(response.status, msg);
  }
  if (parsed === undefined) throw new ApiError(response.status, `not JSON: ${text.slice(0, 200)}`);
  return parsed as T;
}

// Whether the API takes `token`, before it is saved: 'ok', 'refused' (401), or the error's text.
export async function checkToken(token: string): Promise<'ok' | 'refused' | string> {
  try {
    const r = await fetch('/api/v1/status', { headers: { accept: 'application/json', authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
    if (r.status === 401) return 'refused';
    return r.ok ? 'ok' : `the API answered ${r.status}`;
  } catch (e) {
    return `cannot reach hodos (${(e as Error).message})`;
  }
}

export const get = <T>(path: string) => request<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {});

export async function services(): Promise<string[]> {
  return (await get<Envelope<string[] | null>>('/api/services')).data ?? [];
}

export async function operations(service: string): Promise<string[]> {
  const r = await get<Envelope<string[] | null>>(`/api/services/${encodeURIComponent(service)}/operations`);
  return r.data ?? [];
}

export async function searchTraces(query: URLSearchParams): Promise<Trace[]> {
  return (await get<Envelope<Trace[] | null>>(`/api/traces?${query}`)).data ?? [];
}

export async function traceById(id: string): Promise<Trace> {
  const r = await get<Envelope<Trace[] | null>>(`/api/traces/${encodeURIComponent(id)}`);
  const trace = r.data?.[0];
  if (!trace) throw new ApiError(404, 'trace not found');
  return trace;
}

export interface SourceEntry {
  service: string;
  discovered_service: string;
  pid: number;
  executable: string;
  runtime: string;
  runtime_version: string;
  ports: number[];
  traced: boolean;
  why_not: string | null;
  why_not_detail: string;
  selected_by: string;
  override: { enabled?: boolean; name?: string } | null;
}

export interface SourcesAnswer {
  agent: { running: boolean; reason?: string };
  saved: Record<string, { enabled?: boolean; name?: string }>;
  sources: SourceEntry[];
}

export const sources = () => get<SourcesAnswer>('/api/v1/sources');

export function sourceAction(name: string, action: 'enable' | 'disable' | 'rename', newName?: string) {
  return post<{ applied: boolean; message?: string }>(
    `/api/v1/sources/${encodeURIComponent(name)}/${action}`, action === 'rename' ? { name: newName } : {});
}

// Service-to-service call counts between endTs - lookback and endTs (Unix ms).
export async function dependencies(endTs: number, lookback: number): Promise<DependencyLink[]> {
  return (await get<Envelope<DependencyLink[] | null>>(`/api/dependencies?endTs=${endTs}&lookback=${lookback}`)).data ?? [];
}

export interface MetricQuery {
  services: string[];
  endTs: number; // Unix ms
  lookback: number; // ms
  step: number; // ms
  ratePer: number; // ms
  quantile?: number; // latencies only
}

// One SPM route (docs/api.md#get-apimetricscallserrorslatenciesminstep) for several services at
// once, over server and consumer spans (the calls and messages a service handled).
export function metrics(kind: 'calls' | 'errors' | 'latencies', q: MetricQuery): Promise<MetricFamily> {
  const p = new URLSearchParams();
  for (const s of q.services) p.append('service', s);
  p.append('spanKind', 'server');
  p.append('spanKind', 'consumer');
  if (q.quantile !== undefined) p.set('quantile', String(q.quantile));
  p.set('endTs', String(q.endTs));
  p.set('lookback', String(q.lookback));
  p.set('step', String(q.step));
  p.set('ratePer', String(q.ratePer));
  return get<MetricFamily>(`/api/metrics/${kind}?${p}`);
}

// Destinations (docs/destinations.md): where spans go besides the store, chosen at run time.
export interface DestinationField {
  name: string;
  help: string;
  required: boolean;
  secret: boolean;
  default: string;
}

export interface DestinationKind {
  name: string;
  title: string;
  exporter: string;
  endpoint: string;
  auth: string;
  fields: DestinationField[];
}

export interface Destination {
  name: string;
  kind: string;
  exporter: string;
  endpoint: string;
  fields: Record<string, string>; // secrets masked
  health: 'ok' | 'failing' | 'unknown';
  last_error: string | null;
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
}

export interface DestinationInput {
  name: string;
  kind: string;
  fields: Record<string, string>;
}

export interface DestinationTest {
  ok: boolean;
  category: string;
  diagnosis: string;
  detail?: string;
  elapsed_ms: number;
}

export const destinationKinds = async () => (await get<{ kinds: DestinationKind[] }>('/api/v1/destinations/kinds')).kinds;
export const destinations = async () => (await get<{ destinations: Destination[] }>('/api/v1/destinations')).destinations;
export const addDestination = (d: DestinationInput) => post<Destination>('/api/v1/destinations', d);
export const removeDestination = (name: string) =>
  request<{ removed: string }>('DELETE', `/api/v1/destinations/${encodeURIComponent(name)}`);
export const testDestination = (name: string) =>
  post<DestinationTest>(`/api/v1/destinations/${encodeURIComponent(name)}/test`);
export const testUnsavedDestination = (d: DestinationInput) => post<DestinationTest>('/api/v1/destinations/test', d);

// GET /api/v1/status, for the header's indicator.
export interface Status {
  status: 'ok' | 'degraded' | 'starting';
  version?: string;
  components?: {
    agent: { running: boolean; reason?: string };
    destinations: { name: string; health: string; last_error: string | null }[];
  };
}
export const status = () => get<Status>('/api/v1/status');

// Actions and sampling rules of this `hodos up` (docs/ui.md#actions): what is done to every span
// before the store and the destinations, and which whole traces are kept.
export interface ActionStatus {
  spans_in: number;
  spans_out: number;
  spans_dropped: number;
  changed?: number;
}

export interface ActionInput {
  name: string;
  type: string; // redaction | filter | span_template | attributes | resource
  enabled: boolean;
  description: string;
  config: Record<string, unknown>;
}

export interface Action extends ActionInput {
  status?: ActionStatus;
}

export interface ActionType {
  type: string;
  title: string;
  help: string;
  example: Record<string, unknown>;
}

export interface PreviewSpan {
  name: string;
  attributes: Record<string, unknown>;
}

export interface PreviewExample {
  trace_id: string;
  span_id: string;
  service: string;
  before: PreviewSpan;
  after: PreviewSpan | null; // null: dropped
  changes: string[];
}

export interface PreviewResult {
  examined: number;
  changed: number;
  dropped: number;
  examples: PreviewExample[];
}

export interface SamplingSettings {
  decision_wait: string;
  num_traces: number;
}

export type SamplingRuleInput = ActionInput; // type: a tail_sampling policy type; config: its body

export interface SamplingRule extends SamplingRuleInput {
  status?: Record<string, number>;
}

export interface SamplingAnswer {
  settings: SamplingSettings;
  rules: SamplingRule[];
  counts: { traces_sampled: number; traces_not_sampled: number };
}

// The error text of a control route's answer body: {"error": "..."} (the actions contract),
// {"errors": [{"msg"}]} (the query API's shape, which the older control routes use), or the text.
export function controlErrorMessage(text: string, status = 0): string {
  try {
    const body = JSON.parse(text) as { error?: unknown; errors?: { msg?: unknown }[]; message?: unknown };
    if (typeof body.error === 'string') return body.error;
    const nested = (body.error as { message?: unknown } | null | undefined)?.message;
    if (typeof nested === 'string') return nested;
    if (typeof body.errors?.[0]?.msg === 'string') return body.errors[0].msg;
    if (typeof body.message === 'string') return body.message;
  } catch {
    // Not JSON: the text is the message.
  }
  return text.trim() || `the API answered ${status}`;
}

// request() for the control routes: the whole error message (request() keeps 200 characters of a
// body it does not know, and a processor's refusal can be longer), same token and 401 handling.
async function control<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = savedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, `cannot reach hodos (${(e as Error).message}): is \`hodos up\` still running?`);
  }
  const text = await response.text();
  if (response.status === 401) listeners.forEach((l) => l(token));
  if (!response.ok) throw new ApiError(response.status, controlErrorMessage(text, response.status));
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, `not JSON: ${text.slice(0, 200)}`);
  }
}

const actionPath = (name: string, verb = '') => `/api/v1/actions/${encodeURIComponent(name)}${verb && `/${verb}`}`;
const rulePath = (name: string, verb = '') => `/api/v1/sampling/${encodeURIComponent(name)}${verb && `/${verb}`}`;

export const actions = async () => (await control<{ actions: Action[] }>('GET', '/api/v1/actions')).actions;
export const actionTypes = async () => (await control<{ types: ActionType[] }>('GET', '/api/v1/actions/types')).types;
export const addAction = async (a: ActionInput) => (await control<{ action: Action }>('POST', '/api/v1/actions', a)).action;
export const replaceAction = async (name: string, a: ActionInput) =>
  (await control<{ action: Action }>('PUT', actionPath(name), a)).action;
export const removeAction = (name: string) => control<{ removed: string }>('DELETE', actionPath(name));
export const setActionEnabled = async (name: string, enabled: boolean) =>
  (await control<{ action: Action }>('POST', actionPath(name, enabled ? 'enable' : 'disable'), {})).action;
export const previewAction = (action: Partial<ActionInput>, limit = 200, lookback = '1h') =>
  control<PreviewResult>('POST', '/api/v1/actions/preview', { action, limit, lookback });

export const sampling = () => control<SamplingAnswer>('GET', '/api/v1/sampling');
export const saveSamplingSettings = async (s: SamplingSettings) =>
  (await control<{ settings: SamplingSettings }>('PUT', '/api/v1/sampling/settings', s)).settings;
export const addSamplingRule = async (r: SamplingRuleInput) => (await control<{ rule: SamplingRule }>('POST', '/api/v1/sampling', r)).rule;
export const replaceSamplingRule = async (name: string, r: SamplingRuleInput) =>
  (await control<{ rule: SamplingRule }>('PUT', rulePath(name), r)).rule;
export const removeSamplingRule = (name: string) => control<{ removed: string }>('DELETE', rulePath(name));
export const setSamplingRuleEnabled = async (name: string, enabled: boolean) =>
  (await control<{ rule: SamplingRule }>('POST', rulePath(name, enabled ? 'enable' : 'disable'), {})).rule;
