// /actions: what this `hodos up` does to every span before the store and the destinations (mask
// personal data, template URLs, drop health checks: the processors of docs/configuration.md,
// managed through the control API) and which whole traces it keeps (sampling rules). Each action
// can be tried on the store's recent spans before it is saved or enabled.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

import {
  applyFilterQuick, applyRedactionQuick, checkDraft, checkSettings, describeCounts, DETECTORS, diffExample, type Draft,
  type DraftErrors, type DraftField, fieldOfError, filterQuickFromConfig, formatConfig, parseConfigText, type PathMatch,
  type PathRule, pathCondition, previewSummary, redactionKeysWarning, redactionQuickFromConfig, SAMPLING_TYPES,
  samplingSummary, type SettingsDraft, splitList, type Config,
} from '../lib/actions';
import * as api from '../lib/api';

const input = (e: Event) => (e.target as HTMLInputElement).value;

// ---- pieces shared by the two lists and the two forms ----

// Shows the state asked for while the change is on its way (then the list's, which has it).
function EnabledSwitch({ name, enabled, busy, onChange }: { name: string; enabled: boolean; busy: boolean; onChange: (on: boolean) => Promise<void> }) {
  const [asked, setAsked] = useState<boolean | null>(null);
  const checked = asked ?? enabled;
  return (
    <label class="switch">
      <input type="checkbox" role="switch" checked={checked} disabled={busy} aria-label={`${name} enabled`}
        onChange={(e) => {
          const on = (e.target as HTMLInputElement).checked;
          setAsked(on);
          onChange(on).finally(() => setAsked(null));
        }} />
      <span aria-hidden="true">{checked ? 'on' : 'off'}</span>
    </label>
  );
}

// Delete asks first, in place: the row's buttons give way to "Delete NAME?" with the safe
// choice focused.
function DeleteButton({ name, what, busy, onDelete }: { name: string; what: string; busy: boolean; onDelete: () => void }) {
  const [asking, setAsking] = useState(false);
  const keep = useRef<HTMLButtonElement>(null);
  useEffect(() => { if (asking) keep.current?.focus(); }, [asking]);
  if (!asking) {
    return <button type="button" class="small" disabled={busy} aria-label={`Delete ${name}`} onClick={() => setAsking(true)}>Delete</button>;
  }
  return (
    <span class="confirm" role="group" aria-label={`Confirm deleting ${name}`}>
      <span>Delete {name}? {what}</span>
      <button type="button" class="small danger" disabled={busy} onClick={() => { setAsking(false); onDelete(); }}>Delete {name}</button>
      <button type="button" class="small" ref={keep} onClick={() => setAsking(false)}>Keep</button>
    </span>
  );
}

function FieldError({ id, message, alert }: { id: string; message?: string; alert?: boolean }) {
  if (!message) return null;
  return <p id={id} class="field-error" role={alert ? 'alert' : undefined}>{message}</p>;
}

// The config as JSON in a textarea, checked as it is typed; a parse error says where, and its
// button puts the cursor there.
function ConfigEditor({ id, text, onText, error, example, exampleLabel }: {
  id: string; text: string; onText: (t: string) => void; error?: string; example?: Config; exampleLabel: string;
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  const parsed = parseConfigText(text);
  const parseError = parsed.error;
  const shown = error ?? parseError?.message;
  const goTo = () => {
    const el = area.current;
    if (!el || parseError?.offset === undefined) return;
    el.focus();
    el.setSelectionRange(parseError.offset, Math.min(text.length, parseError.offset + 1));
  };
  return (
    <div class="config-editor">
      <div class="config-editor-head">
        <label for={id}>Config (JSON)</label>
        {example && <button type="button" class="small" onClick={() => onText(formatConfig(example))}>{exampleLabel}</button>}
      </div>
      <textarea id={id} name="config" ref={area} value={text} rows={Math.min(22, Math.max(6, text.split('\n').length + 1))}
        spellcheck={false} autocomplete="off" aria-invalid={shown ? true : undefined} aria-describedby={shown ? `${id}-error` : undefined}
        onInput={(e) => onText((e.target as HTMLTextAreaElement).value)} />
      {shown && (
        <p id={`${id}-error`} class="field-error" role={error ? 'alert' : undefined}>
          {shown}
          {!error && parseError?.offset !== undefined && <> <button type="button" class="small" onClick={goTo}>Show me</button></>}
        </p>
      )}
    </div>
  );
}

// ---- quick forms: views over the config JSON ----

function RedactionQuickForm({ config, onConfig }: { config: Config; onConfig: (c: Config) => void }) {
  const q = redactionQuickFromConfig(config);
  const [keysText, setKeysText] = useState(q.blockedKeys.join(', '));
  // The JSON was edited by hand: show its keys (typing here never gets reformatted under the cursor).
  useEffect(() => {
    if (splitList(keysText).join() !== q.blockedKeys.join()) setKeysText(q.blockedKeys.join(', '));
  }, [q.blockedKeys.join()]);
  const apply = (change: Partial<typeof q>) => onConfig(applyRedactionQuick(config, { ...q, ...change }));
  const warning = redactionKeysWarning(q);
  return (
    <fieldset class="quick-form" aria-describedby="redaction-quick-help">
      <legend>Mask personal data</legend>
      <p id="redaction-quick-help" class="muted small-text">These boxes write the config below (and read it back); anything else in it is kept.</p>
      <div class="detectors" role="group" aria-label="Values to mask wherever they appear">
        {DETECTORS.map((d) => (
          <label class="check">
            <input type="checkbox" name="detector" value={d.name} checked={q.detectors.includes(d.name)}
              onChange={(e) => apply({ detectors: (e.target as HTMLInputElement).checked ? [...q.detectors, d.name] : q.detectors.filter((n) => n !== d.name) })} />
            <span>{d.label}<span class="detector-example muted small-text">e.g. <code>{d.example}</code></span></span>
          </label>
        ))}
      </div>
      <label class="stacked">
        Mask the whole value of keys containing (any case; separate with commas)
        <input name="blocked-keys" value={keysText} placeholder="password, authorization, token" autocomplete="off" spellcheck={false}
          onInput={(e) => { setKeysText(input(e)); apply({ blockedKeys: splitList(input(e)) }); }} />
      </label>
      <label class="check">
        <input type="checkbox" name="keep-all-keys" checked={q.keepAllKeys} onChange={(e) => apply({ keepAllKeys: (e.target as HTMLInputElement).checked })} />
        Keep every attribute, only mask values (<code>allow_all_keys</code>)
      </label>
      <label class="check">
        <input type="checkbox" name="mask-span-names" checked={q.maskSpanNames} onChange={(e) => apply({ maskSpanNames: (e.target as HTMLInputElement).checked })} />
        Mask these values in span names too
      </label>
      {warning && <p class="warn-box small-text" role="status">{warning}</p>}
    </fieldset>
  );
}

const MATCH_LABELS: Record<PathMatch, string> = { equals: 'is', prefix: 'starts with', regex: 'matches the regex' };

function FilterQuickForm({ config, onConfig }: { config: Config; onConfig: (c: Config) => void }) {
  const { rules: fromConfig, otherConditions } = filterQuickFromConfig(config);
  const [rows, setRows] = useState<PathRule[]>(fromConfig.length ? fromConfig : [{ match: 'equals', value: '' }]);
  const key = (rs: PathRule[]) => rs.filter((r) => r.value.trim()).map((r) => pathCondition({ ...r, value: r.value.trim() })).join('\n');
  // Rows being typed (or still empty) stay; a hand edit of the JSON replaces them.
  useEffect(() => {
    if (key(rows) !== key(fromConfig)) setRows(fromConfig.length ? fromConfig : [{ match: 'equals', value: '' }]);
  }, [key(fromConfig)]);
  const update = (next: PathRule[]) => {
    setRows(next);
    onConfig(applyFilterQuick(config, next));
  };
  return (
    <fieldset class="quick-form">
      <legend>Drop spans by <code>url.path</code></legend>
      <p class="muted small-text">A span whose <code>url.path</code> fits any line is dropped (health checks, metrics scrapes, static files).
        These lines write the config below{otherConditions > 0 && `; its ${otherConditions} other condition${otherConditions === 1 ? '' : 's'} are kept`}.</p>
      {rows.map((r, i) => (
        <div class="path-rule" role="group" aria-label={`Path rule ${i + 1}`}>
          <span class="muted">url.path</span>
          <select name={`path-match-${i}`} aria-label={`How rule ${i + 1} compares`} value={r.match}
            onChange={(e) => update(rows.map((x, j) => (j === i ? { ...x, match: (e.target as HTMLSelectElement).value as PathMatch } : x)))}>
            {(Object.keys(MATCH_LABELS) as PathMatch[]).map((m) => <option value={m}>{MATCH_LABELS[m]}</option>)}
          </select>
          <input name={`path-value-${i}`} aria-label={`Path of rule ${i + 1}`} value={r.value} spellcheck={false} autocomplete="off"
            placeholder={r.match === 'regex' ? '^/(health|ready)z?$' : r.match === 'prefix' ? '/static/' : '/health'}
            onInput={(e) => update(rows.map((x, j) => (j === i ? { ...x, value: input(e) } : x)))} />
          <button type="button" class="small" aria-label={`Remove path rule ${i + 1}`}
            onClick={() => update(rows.length > 1 ? rows.filter((_, j) => j !== i) : [{ match: 'equals', value: '' }])}>Remove</button>
        </div>
      ))}
      <button type="button" class="small" onClick={() => setRows([...rows, { match: 'equals', value: '' }])}>Add a path</button>
    </fieldset>
  );
}

// ---- preview ----

const LIMITS = [200, 1000];
const LOOKBACKS = ['15m', '1h', '6h', '24h'];

function PreviewExampleView({ ex, showSame }: { ex: api.PreviewExample; showSame: boolean }) {
  const { dropped, rows } = diffExample(ex);
  const visible = showSame || dropped ? rows : rows.filter((r) => r.kind !== 'same' || r.key === 'name');
  const hidden = rows.length - visible.length;
  return (
    <li class={`preview-example ${dropped ? 'dropped' : 'changed'}`} data-span-id={ex.span_id} data-dropped={String(dropped)}>
      <div class="preview-example-head">
        <span class={`badge ${dropped ? 'error' : 'changed-badge'}`}>{dropped ? 'dropped' : 'changed'}</span>
        <b>{ex.service}</b>
        <span>{ex.before.name}</span>
        <a class="small-link" href={`/trace/${ex.trace_id}?span=${ex.span_id}`}>open the stored span</a>
      </div>
      {ex.changes.length > 0 && <ul class="change-list" aria-label="Changes">{ex.changes.map((c) => <li><code>{c}</code></li>)}</ul>}
      <table class="kv diff-table" aria-label={`${dropped ? 'Dropped' : 'Changed'} span ${ex.before.name}`}>
        <thead>
          <tr><th scope="col">Field</th><th scope="col">Before</th><th scope="col">{dropped ? 'After: dropped, not stored or sent' : 'After'}</th></tr>
        </thead>
        <tbody>
          {visible.map((r) => (
            <tr class={`diff-${r.kind}`} data-key={r.key} data-kind={r.kind}>
              <th scope="row">{r.key}{r.kind !== 'same' && <span class="diff-kind"> {dropped ? '' : r.kind}</span>}</th>
              <td class="before">{r.before ?? <span class="muted">absent</span>}</td>
              <td class="after">{dropped ? <span class="muted">—</span> : r.after ?? <span class="muted">removed</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {hidden > 0 && <p class="muted small-text">{hidden} unchanged attribute{hidden === 1 ? '' : 's'} not shown.</p>}
    </li>
  );
}

function PreviewView({ result, lookback, stale }: { result: api.PreviewResult; lookback: string; stale: boolean }) {
  const [showSame, setShowSame] = useState(false);
  return (
    <section class="preview" aria-labelledby="preview-title" data-examined={result.examined} data-changed={result.changed} data-dropped={result.dropped}>
      <h3 id="preview-title">Preview</h3>
      {stale && <p class="warn-box small-text" role="status">The action changed since this preview: run it again to see what it does now.</p>}
      <dl class="preview-counts">
        <div><dt>examined</dt><dd data-count="examined">{result.examined}</dd></div>
        <div><dt>changed</dt><dd data-count="changed">{result.changed}</dd></div>
        <div><dt>dropped</dt><dd data-count="dropped">{result.dropped}</dd></div>
      </dl>
      <p class="preview-summary" role="status">{previewSummary(result, lookback)} Nothing was saved or changed in the store.</p>
      {result.examples.length > 0 && (
        <>
          <label class="check">
            <input type="checkbox" name="show-unchanged" checked={showSame} onChange={(e) => setShowSame((e.target as HTMLInputElement).checked)} />
            Show unchanged attributes
          </label>
          <ol class="preview-examples">{result.examples.map((ex) => <PreviewExampleView ex={ex} showSame={showSame} />)}</ol>
        </>
      )}
    </section>
  );
}

// ---- the action form ----

const emptyDraft = (type?: api.ActionType): Draft => ({
  name: '', type: type?.type ?? '', description: '', enabled: true, configText: type ? formatConfig(type.example) : '{}',
});

function ActionForm({ types, editing, onDone, onCancel }: {
  types: api.ActionType[]; editing: api.Action | null; onDone: (message: string) => void; onCancel: () => void;
}) {
  const [draft, setDraft] = useState<Draft>(() => editing
    ? { name: editing.name, type: editing.type, description: editing.description ?? '', enabled: editing.enabled, configText: formatConfig(editing.config) }
    : emptyDraft(types.find((t) => t.type === 'redaction') ?? types[0]));
  const [errors, setErrors] = useState<DraftErrors>({});
  const [server, setServer] = useState<{ field: DraftField; message: string } | null>(null);
  const [busy, setBusy] = useState<'' | 'save' | 'preview'>('');
  const [preview, setPreview] = useState<{ result: api.PreviewResult; lookback: string; of: string } | null>(null);
  const [limit, setLimit] = useState(LIMITS[0]);
  const [lookback, setLookback] = useState('1h');
  const first = useRef<HTMLSelectElement>(null);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    form.current?.scrollIntoView?.({ block: 'nearest' });
    first.current?.focus();
  }, [editing?.name]);

  const type = types.find((t) => t.type === draft.type);
  const parsed = parseConfigText(draft.configText);
  const set = (change: Partial<Draft>) => {
    setDraft({ ...draft, ...change });
    setServer(null);
    setErrors({});
  };
  const chooseType = (next: string) => {
    const nextType = types.find((t) => t.type === next);
    // The config of one type means nothing to another: an untouched example is swapped for the
    // new type's; an edited config stays (its "Use the example" button is one click away).
    const untouched = draft.configText.trim() === '' || draft.configText === formatConfig(type?.example ?? {}) || draft.configText === '{}';
    set({ type: next, configText: untouched && nextType ? formatConfig(nextType.example) : draft.configText });
  };
  const previewKey = `${draft.type}\n${draft.configText}`;

  const refuse = (e: unknown) => {
    const err = e as api.ApiError;
    setServer({ field: fieldOfError(err.status ?? 0, err.message), message: err.message });
  };

  const save = async () => {
    const checked = checkDraft(draft);
    if (checked.errors) {
      setErrors(checked.errors);
      return;
    }
    setBusy('save');
    setServer(null);
    try {
      const saved = editing ? await api.replaceAction(editing.name, checked.input) : await api.addAction(checked.input);
      onDone(`${editing ? 'Saved' : 'Added'} ${saved.name}: ${saved.enabled ? 'it applies to new spans now.' : 'disabled; turn it on in the list to apply it.'}`);
    } catch (e) {
      refuse(e);
    } finally {
      setBusy('');
    }
  };

  const runPreview = async () => {
    const checked = checkDraft(draft, { needName: false });
    if (checked.errors) {
      setErrors(checked.errors);
      return;
    }
    setBusy('preview');
    setServer(null);
    try {
      // What it would do once enabled, whatever the Enabled box says now.
      const { name, ...rest } = { ...checked.input, enabled: true };
      const result = await api.previewAction(name ? { name, ...rest } : rest, limit, lookback);
      setPreview({ result, lookback, of: previewKey });
    } catch (e) {
      refuse(e);
    } finally {
      setBusy('');
    }
  };

  const err = (f: DraftField) => (server?.field === f ? server.message : errors[f]);
  const described = (f: DraftField, extra = '') => [err(f) ? `action-${f}-error` : '', extra].filter(Boolean).join(' ') || undefined;

  return (
    <form ref={form} class="action-form" aria-labelledby="action-form-title" noValidate
      onSubmit={(e) => { e.preventDefault(); save(); }}>
      <h3 id="action-form-title">{editing ? `Edit ${editing.name}` : 'Add an action'}</h3>
      <div class="form-row">
        <label class="stacked">
          Type
          <select ref={first} name="type" value={draft.type} aria-invalid={err('type') ? true : undefined} aria-describedby={described('type', 'action-type-help')}
            onChange={(e) => chooseType((e.target as HTMLSelectElement).value)}>
            {types.map((t) => <option value={t.type}>{t.title} ({t.type})</option>)}
          </select>
        </label>
        <label class="stacked">
          Name
          <input name="name" value={draft.name} readOnly={!!editing} placeholder="e.g. mask-pii" autocomplete="off" spellcheck={false}
            aria-invalid={err('name') ? true : undefined} aria-describedby={described('name', 'action-name-help')}
            onInput={(e) => set({ name: input(e) })} />
        </label>
        <label class="stacked wide">
          Description
          <input name="description" value={draft.description} placeholder="what it is for, for the next person" autocomplete="off"
            aria-invalid={err('description') ? true : undefined} aria-describedby={described('description')}
            onInput={(e) => set({ description: input(e) })} />
        </label>
        <label class="check enable-check">
          <input type="checkbox" name="enabled" checked={draft.enabled} onChange={(e) => set({ enabled: (e.target as HTMLInputElement).checked })} />
          Enabled (applies to new spans as soon as it is saved)
        </label>
      </div>
      <p id="action-name-help" class="muted small-text">
        {editing ? 'A name cannot change: add a new action and delete this one to rename it.' : 'Lower-case letters, digits, - and _.'}
      </p>
      <FieldError id="action-name-error" message={err('name')} alert={server?.field === 'name'} />
      <FieldError id="action-type-error" message={err('type')} alert={server?.field === 'type'} />
      <FieldError id="action-description-error" message={err('description')} alert={server?.field === 'description'} />
      {type && <p id="action-type-help" class="type-help">{type.help}</p>}

      {parsed.config && draft.type === 'redaction' && <RedactionQuickForm config={parsed.config} onConfig={(c) => set({ configText: formatConfig(c) })} />}
      {parsed.config && draft.type === 'filter' && <FilterQuickForm config={parsed.config} onConfig={(c) => set({ configText: formatConfig(c) })} />}
      {parsed.error && (draft.type === 'redaction' || draft.type === 'filter') && (
        <p class="muted small-text">The quick options come back once the config below is valid JSON.</p>
      )}

      <ConfigEditor id="action-config" text={draft.configText} onText={(t) => set({ configText: t })} error={err('config')}
        example={type?.example} exampleLabel={`Use the ${draft.type || 'type'} example`} />

      <div class="form-buttons">
        <button type="button" disabled={busy !== ''} onClick={runPreview}>{busy === 'preview' ? 'Previewing…' : 'Preview on recent spans'}</button>
        <label class="inline-select">
          on the last
          <select name="preview-limit" aria-label="Spans to preview on" value={String(limit)} onChange={(e) => setLimit(Number((e.target as HTMLSelectElement).value))}>
            {LIMITS.map((l) => <option value={String(l)}>{l} spans</option>)}
          </select>
          <select name="preview-lookback" aria-label="Preview lookback" value={lookback} onChange={(e) => setLookback((e.target as HTMLSelectElement).value)}>
            {LOOKBACKS.map((l) => <option value={l}>of the last {l}</option>)}
          </select>
        </label>
        <span class="spacer" />
        <button type="button" disabled={busy !== ''} onClick={onCancel}>Cancel</button>
        <button type="submit" class="primary" disabled={busy !== ''}>{busy === 'save' ? 'Saving…' : editing ? 'Save changes' : 'Add action'}</button>
      </div>
      {preview && <PreviewView result={preview.result} lookback={preview.lookback} stale={preview.of !== previewKey} />}
    </form>
  );
}

// ---- the sampling rule form ----

function RuleForm({ editing, onDone, onCancel }: { editing: api.SamplingRule | null; onDone: (message: string) => void; onCancel: () => void }) {
  const [draft, setDraft] = useState<Draft>(() => editing
    ? { name: editing.name, type: editing.type, description: editing.description ?? '', enabled: editing.enabled, configText: formatConfig(editing.config) }
    : { name: '', type: SAMPLING_TYPES[0].type, description: '', enabled: true, configText: formatConfig(SAMPLING_TYPES[0].example) });
  const [errors, setErrors] = useState<DraftErrors>({});
  const [server, setServer] = useState<{ field: DraftField; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLSelectElement>(null);
  useEffect(() => first.current?.focus(), [editing?.name]);
  const type = SAMPLING_TYPES.find((t) => t.type === draft.type);
  const set = (change: Partial<Draft>) => {
    setDraft({ ...draft, ...change });
    setServer(null);
    setErrors({});
  };
  const save = async () => {
    const checked = checkDraft(draft);
    if (checked.errors) {
      setErrors({ ...checked.errors, type: checked.errors.type && 'type: choose a policy type' });
      return;
    }
    setBusy(true);
    try {
      const saved = editing ? await api.replaceSamplingRule(editing.name, checked.input) : await api.addSamplingRule(checked.input);
      onDone(`${editing ? 'Saved' : 'Added'} the rule ${saved.name}${saved.enabled ? '' : ' (disabled)'}.`);
    } catch (e) {
      const err = e as api.ApiError;
      setServer({ field: fieldOfError(err.status ?? 0, err.message), message: err.message });
    } finally {
      setBusy(false);
    }
  };
  const err = (f: DraftField) => (server?.field === f ? server.message : errors[f]);
  return (
    <form class="action-form" aria-labelledby="rule-form-title" noValidate onSubmit={(e) => { e.preventDefault(); save(); }}>
      <h3 id="rule-form-title">{editing ? `Edit the rule ${editing.name}` : 'Add a sampling rule'}</h3>
      <div class="form-row">
        <label class="stacked">
          Keeps
          <select ref={first} name="rule-type" value={draft.type} aria-describedby="rule-type-help"
            onChange={(e) => {
              const next = SAMPLING_TYPES.find((t) => t.type === (e.target as HTMLSelectElement).value);
              const untouched = draft.configText === formatConfig(type?.example ?? {});
              set({ type: next?.type ?? '', configText: untouched && next ? formatConfig(next.example) : draft.configText });
            }}>
            {SAMPLING_TYPES.map((t) => <option value={t.type}>{t.title} ({t.type})</option>)}
          </select>
        </label>
        <label class="stacked">
          Name
          <input name="rule-name" value={draft.name} readOnly={!!editing} placeholder="e.g. errors" autocomplete="off" spellcheck={false}
            aria-invalid={err('name') ? true : undefined} aria-describedby={err('name') ? 'rule-name-error' : undefined}
            onInput={(e) => set({ name: input(e) })} />
        </label>
        <label class="stacked wide">
          Description
          <input name="rule-description" value={draft.description} autocomplete="off" onInput={(e) => set({ description: input(e) })} />
        </label>
        <label class="check enable-check">
          <input type="checkbox" name="rule-enabled" checked={draft.enabled} onChange={(e) => set({ enabled: (e.target as HTMLInputElement).checked })} />
          Enabled
        </label>
      </div>
      <FieldError id="rule-name-error" message={err('name')} alert={server?.field === 'name'} />
      <FieldError id="rule-type-error" message={err('type') ?? err('description')} alert={server?.field === 'type' || server?.field === 'description'} />
      {type && <p id="rule-type-help" class="type-help">{type.help}</p>}
      <ConfigEditor id="rule-config" text={draft.configText} onText={(t) => set({ configText: t })} error={err('config')}
        example={type?.example} exampleLabel={`Use the ${draft.type} example`} />
      <div class="form-buttons">
        <span class="spacer" />
        <button type="button" disabled={busy} onClick={onCancel}>Cancel</button>
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : editing ? 'Save rule' : 'Add rule'}</button>
      </div>
    </form>
  );
}

function SettingsForm({ settings, onSaved }: { settings: api.SamplingSettings; onSaved: (message: string) => void }) {
  const [draft, setDraft] = useState<SettingsDraft>({ decision_wait: settings.decision_wait, num_traces: String(settings.num_traces) });
  const [errors, setErrors] = useState<Partial<Record<keyof SettingsDraft, string>>>({});
  const [busy, setBusy] = useState(false);
  const save = async () => {
    const checked = checkSettings(draft);
    if (checked.errors) {
      setErrors(checked.errors);
      return;
    }
    setBusy(true);
    try {
      const s = await api.saveSamplingSettings(checked.settings);
      setErrors({});
      onSaved(`Sampling settings saved: decision_wait ${s.decision_wait}, num_traces ${s.num_traces}.`);
    } catch (e) {
      const message = (e as Error).message;
      setErrors(message.startsWith('num_traces') ? { num_traces: message } : { decision_wait: message });
    } finally {
      setBusy(false);
    }
  };
  const field = (key: keyof SettingsDraft, label: string, help: string) => (
    <label class="stacked">
      {label}
      <input name={key} value={draft[key]} autocomplete="off" spellcheck={false} title={help}
        aria-invalid={errors[key] ? true : undefined} aria-describedby={errors[key] ? `${key}-error` : undefined}
        onInput={(e) => { setDraft({ ...draft, [key]: input(e) }); setErrors({}); }} />
    </label>
  );
  return (
    <form class="search-form settings-form" aria-label="Sampling settings" noValidate onSubmit={(e) => { e.preventDefault(); save(); }}>
      {field('decision_wait', 'Wait before deciding (decision_wait)', 'How long a trace is held after its first span before the rules decide')}
      {field('num_traces', 'Traces held at most (num_traces)', 'Past this, the oldest held trace is decided early')}
      <button type="submit" disabled={busy}>Save settings</button>
      {(Object.keys(errors) as (keyof SettingsDraft)[]).map((k) => <p id={`${k}-error`} class="form-error" role="alert">{errors[k]}</p>)}
    </form>
  );
}

// ---- the page ----

type Editing<T> = { item: T | null } | null; // null: no form; item null: adding

export function ActionsPage() {
  const [list, setList] = useState<api.Action[] | null>(null);
  const [types, setTypes] = useState<api.ActionType[]>([]);
  const [sampling, setSampling] = useState<api.SamplingAnswer | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState('');
  const [actionForm, setActionForm] = useState<Editing<api.Action>>(null);
  const [ruleForm, setRuleForm] = useState<Editing<api.SamplingRule>>(null);
  // A closed form hands the focus back to the button that opens it (not to the page's top).
  const addAction = useRef<HTMLButtonElement>(null);
  const addRule = useRef<HTMLButtonElement>(null);
  const formWasOpen = useRef({ action: false, rule: false });
  useLayoutEffect(() => {
    if (!actionForm && formWasOpen.current.action) addAction.current?.focus();
    if (!ruleForm && formWasOpen.current.rule) addRule.current?.focus();
    formWasOpen.current = { action: !!actionForm, rule: !!ruleForm };
  }, [actionForm, ruleForm]);

  const load = () => Promise.all([
    api.actions().then(setList),
    api.sampling().then(setSampling),
  ]).then(() => setError(''), (e: Error) => setError(e.message));
  useEffect(() => {
    load();
    api.actionTypes().then(setTypes, (e: Error) => setError(e.message));
    const timer = setInterval(load, 3000);
    return () => clearInterval(timer);
  }, []);

  // One change at a time from the lists; the answer (or refusal) is the notice.
  const act = async (key: string, run: () => Promise<string>) => {
    setBusy(key);
    try {
      setNotice(await run());
      await load();
    } catch (e) {
      setNotice(`Failed: ${(e as Error).message}`);
    } finally {
      setBusy('');
    }
  };

  const enabledRules = sampling?.rules.filter((r) => r.enabled).length ?? 0;

  return (
    <main class="page actions-page">
      <h1>Actions</h1>
      <p class="hint">Actions change every span this Hodos receives (from the agent and over OTLP), in the order below, before it
        is stored or sent to a destination: mask personal data, template URLs, drop health checks. A change applies to new spans
        at once, without a restart; spans already stored stay as they were.</p>
      {error && <p class="error-box" role="alert">{error}</p>}
      {notice && <p class={notice.startsWith('Failed') ? 'error-box' : 'notice'} role="status">{notice}</p>}

      <section class="actions-section" aria-labelledby="actions-title">
        <div class="section-head">
          <h2 id="actions-title">Actions</h2>
          {!actionForm && <button ref={addAction} type="button" class="primary" disabled={types.length === 0} onClick={() => setActionForm({ item: null })}>Add an action</button>}
        </div>
        {list && list.length === 0 && <p class="hint">No actions: spans are stored and sent as they arrive.</p>}
        {list && list.length > 0 && (
          <table class="sources actions-table" aria-labelledby="actions-title">
            <thead>
              <tr><th scope="col">#</th><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Enabled</th><th scope="col">Spans</th><th scope="col">Actions</th></tr>
            </thead>
            <tbody>
              {list.map((a, i) => (
                <tr data-action={a.name} data-enabled={String(a.enabled)} class={a.enabled ? '' : 'disabled-row'}>
                  <td class="num">{i + 1}</td>
                  <td><b>{a.name}</b>{a.description && <div class="muted small-text">{a.description}</div>}</td>
                  <td>{types.find((t) => t.type === a.type)?.title ?? a.type}<div class="muted small-text"><code>{a.type}</code></div></td>
                  <td>
                    <EnabledSwitch name={a.name} enabled={a.enabled} busy={busy === a.name}
                      onChange={(on) => act(a.name, async () => {
                        await api.setActionEnabled(a.name, on);
                        return on ? `${a.name} enabled: it applies to new spans now.` : `${a.name} disabled: new spans pass it untouched.`;
                      })} />
                  </td>
                  <td class="counts" data-spans-in={a.status?.spans_in} data-spans-dropped={a.status?.spans_dropped} data-changed={a.status?.changed}>
                    {describeCounts(a.status)}
                  </td>
                  <td class="actions">
                    <button type="button" class="small" disabled={busy === a.name} aria-label={`Edit ${a.name}`} onClick={() => setActionForm({ item: a })}>Edit</button>
                    <DeleteButton name={a.name} what="It stops applying at once." busy={busy === a.name}
                      onDelete={() => act(a.name, async () => {
                        await api.removeAction(a.name);
                        if (actionForm?.item?.name === a.name) setActionForm(null);
                        return `Deleted ${a.name}: new spans no longer go through it.`;
                      })} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {actionForm && types.length > 0 && (
          <ActionForm key={actionForm.item?.name ?? '(new)'} types={types} editing={actionForm.item}
            onCancel={() => setActionForm(null)}
            onDone={(message) => { setActionForm(null); setNotice(message); load(); }} />
        )}
      </section>

      <section class="actions-section" aria-labelledby="sampling-title">
        <div class="section-head">
          <h2 id="sampling-title">Sampling rules</h2>
          {!ruleForm && <button ref={addRule} type="button" onClick={() => setRuleForm({ item: null })}>Add a rule</button>}
        </div>
        {sampling && (
          <>
            <p class={enabledRules ? 'notice' : 'hint'} data-enabled-rules={enabledRules}>{samplingSummary(sampling.rules, sampling.settings.decision_wait)}</p>
            <p class="sampling-counts" data-sampled={sampling.counts.traces_sampled} data-not-sampled={sampling.counts.traces_not_sampled}>
              Traces kept: <b>{sampling.counts.traces_sampled.toLocaleString('en-US')}</b> · dropped by sampling:{' '}
              <b>{sampling.counts.traces_not_sampled.toLocaleString('en-US')}</b>
            </p>
            {sampling.rules.length > 0 && (
              <table class="sources actions-table" aria-labelledby="sampling-title">
                <thead>
                  <tr><th scope="col">Name</th><th scope="col">Keeps</th><th scope="col">Config</th><th scope="col">Enabled</th><th scope="col">Actions</th></tr>
                </thead>
                <tbody>
                  {sampling.rules.map((r) => (
                    <tr data-rule={r.name} data-enabled={String(r.enabled)} class={r.enabled ? '' : 'disabled-row'}>
                      <td><b>{r.name}</b>{r.description && <div class="muted small-text">{r.description}</div>}</td>
                      <td>{SAMPLING_TYPES.find((t) => t.type === r.type)?.title ?? r.type}<div class="muted small-text"><code>{r.type}</code></div></td>
                      <td><code class="config-inline">{JSON.stringify(r.config)}</code></td>
                      <td>
                        <EnabledSwitch name={r.name} enabled={r.enabled} busy={busy === `rule:${r.name}`}
                          onChange={(on) => act(`rule:${r.name}`, async () => {
                            await api.setSamplingRuleEnabled(r.name, on);
                            return `Rule ${r.name} ${on ? 'enabled' : 'disabled'}.`;
                          })} />
                      </td>
                      <td class="actions">
                        <button type="button" class="small" disabled={busy === `rule:${r.name}`} aria-label={`Edit the rule ${r.name}`} onClick={() => setRuleForm({ item: r })}>Edit</button>
                        <DeleteButton name={r.name} what="Traces stop being kept for it." busy={busy === `rule:${r.name}`}
                          onDelete={() => act(`rule:${r.name}`, async () => {
                            await api.removeSamplingRule(r.name);
                            if (ruleForm?.item?.name === r.name) setRuleForm(null);
                            return `Deleted the rule ${r.name}.`;
                          })} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {ruleForm && (
              <RuleForm key={ruleForm.item?.name ?? '(new)'} editing={ruleForm.item} onCancel={() => setRuleForm(null)}
                onDone={(message) => { setRuleForm(null); setNotice(message); load(); }} />
            )}
            <h3>Settings</h3>
            <SettingsForm key={`${sampling.settings.decision_wait}/${sampling.settings.num_traces}`} settings={sampling.settings}
              onSaved={(message) => { setNotice(message); load(); }} />
          </>
        )}
      </section>
    </main>
  );
}
