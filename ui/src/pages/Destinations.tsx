// /destinations: where this `hodos up` sends spans besides its own store (the control API,
// docs/destinations.md): each destination with its health and counts, remove and "test
// connection", and a form per kind (its fields, secrets typed as passwords) to add one.
import { useEffect, useState } from 'preact/hooks';

import * as api from '../lib/api';

function Health({ d }: { d: api.Destination }) {
  const cls = d.health === 'ok' ? 'ok' : d.health === 'failing' ? 'error' : 'muted-badge';
  return <span class={`badge ${cls}`}>{d.health}</span>;
}

function TestResult({ r }: { r: api.DestinationTest }) {
  return (
    <p class={r.ok ? 'notice' : 'error-box'} role="status" data-test-ok={String(r.ok)}>
      {r.ok ? `Connection ok: ${r.diagnosis} (${r.elapsed_ms} ms).` : `Test failed (${r.category}): ${r.diagnosis}`}
      {r.detail && <span class="muted small-text"> — {r.detail}</span>}
    </p>
  );
}

function AddForm({ kinds, onAdded }: { kinds: api.DestinationKind[]; onAdded: (name: string) => void }) {
  const [kindName, setKindName] = useState(kinds[0]?.name ?? '');
  const [name, setName] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState('');
  const [test, setTest] = useState<api.DestinationTest | null>(null);
  const [busy, setBusy] = useState(false);
  const kind = kinds.find((k) => k.name === kindName);
  // "header.<Name>" is a family of fields; the form offers the plain ones.
  const fields = (kind?.fields ?? []).filter((f) => !f.name.includes('<'));

  const input = (): api.DestinationInput => {
    const set: Record<string, string> = {};
    for (const f of fields) if (values[f.name]?.trim()) set[f.name] = values[f.name].trim();
    return { name: name.trim(), kind: kindName, fields: set };
  };

  const run = async (what: 'add' | 'test') => {
    setBusy(true);
    setError('');
    setTest(null);
    try {
      if (what === 'test') {
        setTest(await api.testUnsavedDestination({ ...input(), name: input().name || 'unsaved' }));
      } else {
        const added = await api.addDestination(input());
        setName('');
        setValues({});
        onAdded(added.name);
      }
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="search-form dest-form" aria-label="Add a destination" onSubmit={(e) => { e.preventDefault(); run('add'); }}>
      <label>
        Kind
        <select name="kind" value={kindName} onChange={(e) => { setKindName((e.target as HTMLSelectElement).value); setTest(null); setError(''); }}>
          {kinds.map((k) => <option value={k.name}>{k.title}</option>)}
        </select>
      </label>
      <label>
        Name
        <input name="name" value={name} required placeholder="e.g. honeycomb-prod"
          onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      </label>
      {fields.map((f) => (
        <label class="wide" title={f.help}>
          {f.name}{f.required ? ' *' : ''}
          <input name={f.name} type={f.secret ? 'password' : 'text'} autocomplete="off" value={values[f.name] ?? ''}
            placeholder={f.default || f.help} required={f.required}
            onInput={(e) => setValues({ ...values, [f.name]: (e.target as HTMLInputElement).value })} />
        </label>
      ))}
      <div class="dest-form-actions">
        <button type="button" disabled={busy} onClick={() => run('test')}>Test connection</button>
        <button type="submit" class="primary" disabled={busy}>Add destination</button>
      </div>
      {kind && <p class="muted small-text dest-kind-help">Sends to <code>{kind.endpoint}</code> ({kind.exporter}); auth: {kind.auth}.</p>}
      {error && <p class="form-error" role="alert">{error}</p>}
      {test && <TestResult r={test} />}
    </form>
  );
}

export function DestinationsPage() {
  const [list, setList] = useState<api.Destination[] | null>(null);
  const [kinds, setKinds] = useState<api.DestinationKind[]>([]);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [tests, setTests] = useState<Record<string, api.DestinationTest>>({});
  const [busy, setBusy] = useState('');

  const load = () => api.destinations().then((d) => { setList(d); setError(''); }, (e: Error) => setError(e.message));
  useEffect(() => {
    load();
    api.destinationKinds().then(setKinds, (e: Error) => setError(e.message));
    const timer = setInterval(load, 3000);
    return () => clearInterval(timer);
  }, []);

  const remove = async (name: string) => {
    setBusy(name);
    try {
      await api.removeDestination(name);
      setNotice(`Removed ${name}: no more spans go there.`);
      await load();
    } catch (e) {
      setNotice(`Remove failed: ${(e as Error).message}`);
    } finally {
      setBusy('');
    }
  };

  const test = async (name: string) => {
    setBusy(name);
    try {
      const r = await api.testDestination(name);
      setTests({ ...tests, [name]: r });
    } catch (e) {
      setNotice(`Test failed: ${(e as Error).message}`);
    } finally {
      setBusy('');
    }
  };

  return (
    <main class="page destinations-page">
      <h1>Destinations</h1>
      <p class="hint">Spans always go to this Hodos's own store; each destination below gets them too, with its own queue
        and retries, so a slow or down one holds up nothing else.</p>
      {error && <p class="error-box" role="alert">{error}</p>}
      {notice && <p class="notice" role="status">{notice}</p>}
      {list && list.length === 0 && <p class="hint">No destinations yet: add one below.</p>}
      {list && list.length > 0 && (
        <table class="sources destinations">
          <thead>
            <tr><th>Name</th><th>Kind</th><th>Endpoint</th><th>Health</th><th>Sent</th><th>Failed</th><th>Dropped</th><th>Actions</th></tr>
          </thead>
          <tbody>
            {list.map((d) => (
              <tr data-destination={d.name}>
                <td><b>{d.name}</b></td>
                <td>{d.kind}</td>
                <td><code>{d.endpoint}</code></td>
                <td>
                  <Health d={d} />
                  {d.last_error && <div class="muted small-text">{d.last_error}</div>}
                  {tests[d.name] && <TestResult r={tests[d.name]} />}
                </td>
                <td class="num">{d.sent}</td>
                <td class="num">{d.failed}</td>
                <td class="num">{d.dropped}</td>
                <td class="actions">
                  <button type="button" class="small" disabled={busy === d.name} aria-label={`Test connection to ${d.name}`} onClick={() => test(d.name)}>Test connection</button>
                  <button type="button" class="small" disabled={busy === d.name} aria-label={`Remove ${d.name}`} onClick={() => remove(d.name)}>Remove</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2 class="dest-add-title">Add a destination</h2>
      {kinds.length > 0 && <AddForm kinds={kinds} onAdded={(n) => { setNotice(`Added ${n}.`); load(); }} />}
    </main>
  );
}
