// The pure logic of the actions page (/actions): checking a draft before it is sent, the quick
// forms for the two commonest actions (mask personal data, drop health checks) as views over the
// config JSON, the before/after diff of a preview, and the sampling rules' types and settings.
// Config shapes are the processors' own (docs/configuration.md).
import type { ActionInput, ActionStatus, PreviewExample, PreviewResult, SamplingRule, SamplingSettings } from './api';
import { parseGoDuration } from './format';

export type Config = Record<string, unknown>;

// ---- names, config text, drafts ----

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

// '' when `name` is a valid action or rule name, else what is wrong and how to fix it.
export function nameProblem(name: string): string {
  if (name === '') return 'name: required, e.g. mask-pii';
  if (name.length > 63) return `name: ${name.length} characters; use at most 63`;
  if (!NAME_PATTERN.test(name)) {
    return `name: '${name}' has characters a name cannot have; use lower-case letters, digits, '-' and '_', ` +
      'starting with a letter or digit (e.g. mask-pii)';
  }
  return '';
}

export interface ConfigParseError {
  message: string;
  offset?: number; // index in the text where the parser stopped
  line?: number; // 1-based
  column?: number; // 1-based
}

export type ParsedConfig = { config: Config; error?: undefined } | { config?: undefined; error: ConfigParseError };

// Line and column (1-based) of an index in `text`.
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

// The config textarea's text as a JSON object, or where and why it is not one. Engines word
// JSON.parse errors differently ("... in JSON at position 12", "... (line 2 column 3)", Firefox's
// "... at line 2 column 3 of the JSON data"): the place is taken from whichever is there.
export function parseConfigText(text: string): ParsedConfig {
  if (text.trim() === '') return { error: { message: 'config: empty; write a JSON object, e.g. {}' } };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const raw = (e as Error).message;
    let offset: number | undefined;
    let line: number | undefined;
    let column: number | undefined;
    const pos = /at position (\d+)/.exec(raw);
    const lc = /line (\d+) column (\d+)/.exec(raw);
    if (pos) {
      offset = Number(pos[1]);
      ({ line, column } = lineColumn(text, offset));
    } else if (lc) {
      line = Number(lc[1]);
      column = Number(lc[2]);
      const lines = text.split('\n');
      offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + column - 1;
    } else if (/end of (JSON|data)/i.test(raw)) {
      offset = text.length;
      ({ line, column } = lineColumn(text, offset));
    }
    const reason = raw
      .replace(/^JSON\.parse: /, '')
      .replace(/ at line \d+ column \d+ of the JSON data$/, '')
      .replace(/ in JSON at position \d+.*$/, '')
      .replace(/, ".*" is not valid JSON$/s, '');
    const where = line !== undefined ? `line ${line}, column ${column}: ` : '';
    return { error: { message: `config is not valid JSON: ${where}${reason}`, offset, line, column } };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`;
    return { error: { message: `config: ${what}; it must be a JSON object ({...}) with the processor's options` } };
  }
  return { config: value as Config };
}

export const formatConfig = (config: Config): string => JSON.stringify(config, null, 2);

// What the add/edit form holds; the config as the user's text.
export interface Draft {
  name: string;
  type: string;
  description: string;
  enabled: boolean;
  configText: string;
}

export type DraftField = 'name' | 'type' | 'description' | 'config';
export type DraftErrors = Partial<Record<DraftField, string>>;

// The draft as the API takes it, or every field that is wrong. A preview needs no name.
export function checkDraft(d: Draft, { needName = true } = {}): { input: ActionInput; errors?: undefined } | { input?: undefined; errors: DraftErrors } {
  const errors: DraftErrors = {};
  const name = d.name.trim();
  if (needName || name !== '') {
    const problem = nameProblem(name);
    if (problem) errors.name = problem;
  }
  if (!d.type) errors.type = 'type: choose what the action does';
  const parsed = parseConfigText(d.configText);
  if (parsed.error) errors.config = parsed.error.message;
  if (Object.keys(errors).length > 0 || !parsed.config) return { errors };
  return { input: { name, type: d.type, enabled: d.enabled, description: d.description.trim(), config: parsed.config } };
}

// Which field of the form a refusal of the API is about, so that it is shown (and marked
// invalid) there: 409 is a taken name; a message starting with a field's name is that field;
// anything else (the processor's own words on its options) is the config.
export function fieldOfError(status: number, message: string): DraftField {
  if (status === 409) return 'name';
  const m = /^(?:action\.|rule\.)?(name|type|description)\b/.exec(message);
  return m ? (m[1] as DraftField) : 'config';
}

// "1,204 in · 1,190 out · 14 dropped · 230 changed"
export function describeCounts(s: ActionStatus | undefined): string {
  if (!s) return 'no counts yet';
  const n = (v: number) => v.toLocaleString('en-US');
  const parts = [`${n(s.spans_in)} in`, `${n(s.spans_out)} out`, `${n(s.spans_dropped)} dropped`];
  if (s.changed !== undefined) parts.push(`${n(s.changed)} changed`);
  return parts.join(' · ');
}

// A list typed in one input: items separated by commas, spaces or new lines, without repeats.
export function splitList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}

// ---- regex helpers (RE2 and JS agree on these escapes) ----

const REGEX_SPECIALS = /[\\.^$|?*+()[\]{}]/g;
export const escapeRegex = (s: string) => s.replace(REGEX_SPECIALS, '\\$&');

// The literal a regex of only escaped or plain characters stands for; null when it has operators.
export function regexLiteral(re: string): string | null {
  return /^(?:[^\\.^$|?*+()[\]{}]|\\[\\.^$|?*+()[\]{}])*$/.test(re) ? re.replace(/\\(.)/g, '$1') : null;
}

// ---- quick form (a): redaction ----

export const DETECTORS: { name: string; label: string; example: string }[] = [
  { name: 'email', label: 'Email addresses', example: 'jane.doe@example.com' },
  { name: 'credit_card', label: 'Card numbers (Luhn-checked)', example: '4111 1111 1111 1111' },
  { name: 'bearer_token', label: 'Bearer tokens', example: 'Bearer eyJhbGciOi…' },
  { name: 'jwt', label: 'JSON Web Tokens', example: 'eyJhbGciOiJIUzI1NiJ9.e30.sig' },
  { name: 'ipv4', label: 'IPv4 addresses', example: '203.0.113.7' },
  { name: 'ipv6', label: 'IPv6 addresses', example: '2001:db8::1' },
];

export interface RedactionQuick {
  detectors: string[]; // builtin_patterns the form knows, in DETECTORS order
  blockedKeys: string[]; // keys whose whole value is masked: any key containing one (any case)
  keepAllKeys: boolean; // allow_all_keys
  maskSpanNames: boolean; // redact_span_names
  allowedKeys: number; // how many allowed_keys (with keepAllKeys false, every other key is removed)
}

// "(?i)password" masks every key containing "password" in any case (user.password, PASSWORD).
export const blockedKeyPattern = (key: string) => `(?i)${escapeRegex(key)}`;

export function keyOfBlockedPattern(pattern: string): string | null {
  if (!pattern.startsWith('(?i)')) return null;
  const key = regexLiteral(pattern.slice(4));
  return key ? key : null;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function redactionQuickFromConfig(config: Config): RedactionQuick {
  const builtins = strings(config.builtin_patterns);
  return {
    detectors: DETECTORS.map((d) => d.name).filter((n) => builtins.includes(n)),
    blockedKeys: strings(config.blocked_key_patterns).map(keyOfBlockedPattern).filter((k): k is string => k !== null),
    keepAllKeys: config.allow_all_keys === true,
    maskSpanNames: config.redact_span_names === true,
    allowedKeys: strings(config.allowed_keys).length,
  };
}

// The config with the quick form's choices in it; every option the form does not show (patterns
// it cannot express, blocked_values, allowed_values, summary, ...) is kept as it was.
export function applyRedactionQuick(config: Config, q: Omit<RedactionQuick, 'allowedKeys'>): Config {
  const out: Config = { ...config };
  out.allow_all_keys = q.keepAllKeys;
  const known = new Set(DETECTORS.map((d) => d.name));
  const builtins = [
    ...DETECTORS.map((d) => d.name).filter((n) => q.detectors.includes(n)),
    ...strings(config.builtin_patterns).filter((n) => !known.has(n)),
  ];
  const patterns = [
    ...strings(config.blocked_key_patterns).filter((p) => keyOfBlockedPattern(p) === null),
    ...[...new Set(q.blockedKeys.map((k) => k.trim()).filter(Boolean))].map(blockedKeyPattern),
  ];
  const setList = (key: string, list: string[]) => {
    if (list.length) out[key] = list;
    else delete out[key];
  };
  setList('builtin_patterns', builtins);
  setList('blocked_key_patterns', patterns);
  if (q.maskSpanNames) out.redact_span_names = true;
  else delete out.redact_span_names;
  return out;
}

// What a redaction config will do to keys, in a sentence, when that is surprising.
export function redactionKeysWarning(q: RedactionQuick): string {
  if (q.keepAllKeys) return '';
  if (q.allowedKeys === 0) {
    return 'allow_all_keys is off and allowed_keys is empty: every attribute (service.name included) will be removed. ' +
      'Tick "Keep every attribute" to only mask values.';
  }
  return `allow_all_keys is off: only the ${q.allowedKeys} keys in allowed_keys are kept; every other attribute is removed.`;
}

// ---- quick form (b): filter "drop spans whose url.path ..." ----

export type PathMatch = 'equals' | 'prefix' | 'regex';
export interface PathRule {
  match: PathMatch;
  value: string;
}

export const PATH_ATTRIBUTE = 'url.path';

// An OTTL string literal: the escapes OTTL reads are \" \\ \n \t \r.
export function ottlString(s: string): string {
  return `"${s.replace(/[\\"\n\t\r]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r' })[c]!)}"`;
}

export function parseOttlString(literal: string): string | null {
  if (!/^"(?:[^"\\]|\\.)*"$/s.test(literal)) return null;
  let bad = false;
  const s = literal.slice(1, -1).replace(/\\(.)/gs, (_, c: string) => {
    const v = ({ '\\': '\\', '"': '"', n: '\n', t: '\t', r: '\r' } as Record<string, string>)[c];
    if (v === undefined) bad = true;
    return v ?? c;
  });
  return bad ? null : s;
}

const PATH_REF = `attributes[${ottlString(PATH_ATTRIBUTE)}]`;

export function pathCondition(r: PathRule): string {
  if (r.match === 'equals') return `${PATH_REF} == ${ottlString(r.value)}`;
  const re = r.match === 'prefix' ? `^${escapeRegex(r.value)}` : r.value;
  return `IsMatch(${PATH_REF}, ${ottlString(re)})`;
}

const EQUALS_RE = /^\s*attributes\["url\.path"\]\s*==\s*("(?:[^"\\]|\\.)*")\s*$/s;
const ISMATCH_RE = /^\s*IsMatch\(\s*attributes\["url\.path"\]\s*,\s*("(?:[^"\\]|\\.)*")\s*\)\s*$/s;

// The rule a condition of pathCondition's forms stands for; null for any other condition.
export function pathRuleOfCondition(condition: string): PathRule | null {
  const eq = EQUALS_RE.exec(condition);
  if (eq) {
    const value = parseOttlString(eq[1]);
    return value === null ? null : { match: 'equals', value };
  }
  const im = ISMATCH_RE.exec(condition);
  if (!im) return null;
  const re = parseOttlString(im[1]);
  if (re === null) return null;
  const prefix = re.startsWith('^') ? regexLiteral(re.slice(1)) : null;
  return prefix ? { match: 'prefix', value: prefix } : { match: 'regex', value: re };
}

const spanConditions = (config: Config): string[] =>
  strings(((config.traces ?? {}) as { span?: unknown }).span);

export function filterQuickFromConfig(config: Config): { rules: PathRule[]; otherConditions: number } {
  const conditions = spanConditions(config);
  const rules = conditions.map(pathRuleOfCondition).filter((r): r is PathRule => r !== null);
  return { rules, otherConditions: conditions.length - rules.length };
}

// The config with the path rules as its url.path conditions (rules with an empty value are left
// out); its other conditions, span event conditions and error_mode are kept. A missing error_mode
// becomes "ignore": a condition failing at run time then never refuses a whole batch.
export function applyFilterQuick(config: Config, rules: PathRule[]): Config {
  const traces = { ...((config.traces ?? {}) as Config) };
  const others = spanConditions(config).filter((c) => pathRuleOfCondition(c) === null);
  const span = [...others, ...rules.filter((r) => r.value.trim() !== '').map((r) => pathCondition({ ...r, value: r.value.trim() }))];
  if (span.length) traces.span = span;
  else delete traces.span;
  return { error_mode: 'ignore', ...config, traces };
}

// ---- preview ----

export type DiffKind = 'same' | 'changed' | 'added' | 'removed';
export interface DiffRow {
  key: string;
  before?: string; // undefined: absent
  after?: string;
  kind: DiffKind;
}

export function formatValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// One example of a preview as rows: the name first, then the attributes in the order they had
// before (new ones after). A dropped span (after null) has no after side: every row says so.
export function diffExample(ex: Pick<PreviewExample, 'before' | 'after'>): { dropped: boolean; rows: DiffRow[] } {
  const { before, after } = ex;
  const row = (key: string, b: unknown, a: unknown, present: [boolean, boolean]): DiffRow => {
    const r: DiffRow = { key, kind: 'same' };
    if (present[0]) r.before = formatValue(b);
    if (present[1]) r.after = formatValue(a);
    if (!present[0]) r.kind = 'added';
    else if (!present[1]) r.kind = 'removed';
    else if (r.before !== r.after || JSON.stringify(b) !== JSON.stringify(a)) r.kind = 'changed';
    return r;
  };
  if (after === null) {
    return {
      dropped: true,
      rows: [{ key: 'name', before: before.name, kind: 'removed' },
        ...Object.entries(before.attributes ?? {}).map(([k, v]) => ({ key: k, before: formatValue(v), kind: 'removed' as const }))],
    };
  }
  const b = before.attributes ?? {};
  const a = after.attributes ?? {};
  const keys = [...Object.keys(b), ...Object.keys(a).filter((k) => !(k in b))];
  return {
    dropped: false,
    rows: [row('name', before.name, after.name, [true, true]),
      ...keys.map((k) => row(k, b[k], a[k], [k in b, k in a]))],
  };
}

// The sentence above the examples.
export function previewSummary(r: PreviewResult, lookback: string): string {
  if (r.examined === 0) {
    return `No spans in the store from the last ${lookback} to try it on: send some traffic, then preview again.`;
  }
  const untouched = Math.max(0, r.examined - r.changed - r.dropped);
  const most = r.examined === 1 ? 'the most recent span' : `the ${r.examined.toLocaleString('en-US')} most recent spans`;
  return `Of ${most} (last ${lookback}): ${r.changed.toLocaleString('en-US')} changed, ` +
    `${r.dropped.toLocaleString('en-US')} dropped, ${untouched.toLocaleString('en-US')} untouched.` +
    (r.examples.length < r.changed + r.dropped ? ` The first ${r.examples.length} are shown.` : '');
}

// ---- sampling rules ----

export interface SamplingType {
  type: string;
  title: string;
  help: string;
  example: Config;
}

// The tail_sampling policy types hodos up takes (docs/configuration.md#tail_sampling); a rule's
// config is the policy's body.
export const SAMPLING_TYPES: SamplingType[] = [
  { type: 'status_code', title: 'Traces with errors', help: 'Keeps a trace when any span has one of the status codes (ERROR, OK, UNSET).', example: { status_codes: ['ERROR'] } },
  { type: 'latency', title: 'Slow traces', help: 'Keeps a trace that lasts at least threshold_ms (from its earliest start to its latest end); upper_threshold_ms bounds it (0: none).', example: { threshold_ms: 1000 } },
  { type: 'probabilistic', title: 'A share of traces', help: 'Keeps sampling_percentage % of traces, chosen by a hash of the trace id (hash_salt: the same on every Hodos and Collector keeps the same traces).', example: { sampling_percentage: 10 } },
  { type: 'string_attribute', title: 'By a string attribute', help: 'Keeps a trace when a span or resource has key with one of values (enabled_regex_matching: values are RE2 regexes). With invert_match: true the matching traces are dropped, whatever the other rules say.', example: { key: 'url.path', values: ['^/health'], enabled_regex_matching: true, invert_match: true } },
  { type: 'numeric_attribute', title: 'By a numeric attribute', help: 'Keeps a trace when a span or resource has key with an integer in [min_value, max_value] (at least one bound); invert_match as for string attributes.', example: { key: 'http.response.status_code', min_value: 500, max_value: 599 } },
  { type: 'rate_limiting', title: 'At most N spans per second', help: 'Keeps whole traces while the spans kept this second stay under spans_per_second.', example: { spans_per_second: 100 } },
  { type: 'always_sample', title: 'Every trace', help: 'Keeps every trace: with it enabled, only an inverted attribute rule drops anything.', example: {} },
  { type: 'and', title: 'All of several conditions', help: 'Keeps a trace when every sub-policy keeps it (not another and); the sub-policies are written as in tail_sampling: {name, type, <type>: {...}}.', example: { and_sub_policy: [{ name: 'writes', type: 'string_attribute', string_attribute: { key: 'http.request.method', values: ['POST', 'PUT', 'DELETE'] } }, { name: 'ten-percent', type: 'probabilistic', probabilistic: { sampling_percentage: 10 } }] } },
];

// What the enabled rules mean for the traces, in one sentence.
export function samplingSummary(rules: Pick<SamplingRule, 'enabled'>[], decisionWait: string): string {
  const enabled = rules.filter((r) => r.enabled).length;
  if (enabled === 0) {
    return 'No sampling rule is enabled, so every trace is kept: nothing is held back or dropped.';
  }
  return `${enabled} rule${enabled === 1 ? ' is' : 's are'} enabled: each trace is held for ${decisionWait} after its first span, ` +
    'then kept whole when any enabled rule keeps it, and dropped whole otherwise (an inverted attribute rule that matches drops it whatever the others say).';
}

export interface SettingsDraft {
  decision_wait: string;
  num_traces: string;
}

export function checkSettings(d: SettingsDraft): { settings: SamplingSettings; errors?: undefined } | { settings?: undefined; errors: Partial<Record<keyof SettingsDraft, string>> } {
  const errors: Partial<Record<keyof SettingsDraft, string>> = {};
  const wait = d.decision_wait.trim();
  // A bare number would be milliseconds to parseGoDuration; the API wants a unit.
  const us = /^\d+(\.\d+)?$/.test(wait) ? null : parseGoDuration(wait);
  if (us === undefined) errors.decision_wait = 'decision_wait: required, a duration such as 10s';
  else if (us === null) errors.decision_wait = `decision_wait: '${wait}' is not a duration; write it as 10s, 1m30s or 500ms`;
  else if (us <= 0) errors.decision_wait = 'decision_wait: must be more than 0, e.g. 10s';
  const traces = d.num_traces.trim();
  const n = Number(traces);
  if (!/^\d+$/.test(traces) || !Number.isSafeInteger(n) || n < 1) {
    errors.num_traces = `num_traces: '${traces}' is not a whole number of traces of at least 1, e.g. 50000`;
  }
  if (Object.keys(errors).length) return { errors };
  return { settings: { decision_wait: wait, num_traces: n } };
}
