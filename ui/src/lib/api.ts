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
