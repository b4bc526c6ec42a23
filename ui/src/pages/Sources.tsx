// /sources: what the eBPF agent of this `hodos up` found, whether each is traced and why not, with
// enable/disable and rename (the control API, docs/api.md#sources-control-api).
import { useEffect, useState } from 'preact/hooks';

import * as api from '../lib/api';
import { serviceColor } from '../lib/colors';
import { describeChoice, savedNotRunning } from '../lib/sources';

export function SourcesPage() {
  const [data, setData] = useState<api.SourcesAnswer | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [renaming, setRenaming] = useState<{ name: string; value: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const load = () => api.sources().then((d) => { setData(d); setError(''); }, (e: Error) => setError(e.message));
  useEffect(() => {
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);

  const act = async (name: string, action: 'enable' | 'disable' | 'rename', newName?: string) => {
    setBusy(true);
    try {
      const r = await api.sourceAction(name, action, newName);
      // The API's message already starts with "saved; ...".
      setNotice(r.applied ? `${action} ${name}: saved and applied.` : `${action} ${name}: ${r.message ?? 'saved; applies when the agent next scans'}.`);
      setRenaming(null);
      await load();
    } catch (e) {
      setNotice(`${action} failed: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  const saved = data ? savedNotRunning(data) : [];

  return (
    <main class="page sources-page">
      <h1>Sources</h1>
      {error && <p class="error-box" role="alert">{error}</p>}
      {data && !data.agent.running && (
        <p class="warn-box" role="status">
          The agent is not running{data.agent.reason ? `: ${data.agent.reason}` : ''}. Start <code>sudo hodos up</code> (without
          <code> --no-agent</code>) to trace the services on this host; choices saved below apply when it runs.
        </p>
      )}
      {notice && <p class="notice" role="status">{notice}</p>}
      {data && data.sources.length === 0 && data.agent.running && <p class="hint">No process listens on a TCP port yet.</p>}
      {data && data.sources.length > 0 && (
        <table class="sources">
          <thead>
            <tr><th>Service</th><th>Runtime</th><th>PID</th><th>Ports</th><th>Status</th><th>Actions</th></tr>
          </thead>
          <tbody>
            {data.sources.map((s) => (
              <tr data-service={s.service}>
                <td>
                  <span class="svc-swatch" style={{ background: serviceColor(s.service) }} />
                  {renaming?.name === s.service ? (
                    <form class="inline" onSubmit={(e) => { e.preventDefault(); act(s.service, 'rename', renaming.value.trim()); }}>
                      <label class="sr-only" for={`rename-${s.pid}`}>New name for {s.service}</label>
                      <input id={`rename-${s.pid}`} value={renaming.value} autofocus
                        onInput={(e) => setRenaming({ name: s.service, value: (e.target as HTMLInputElement).value })} />
                      <button type="submit" class="small" disabled={busy}>Save</button>
                      <button type="button" class="small" onClick={() => setRenaming(null)}>Cancel</button>
                    </form>
                  ) : (
                    <>
                      <b>{s.service}</b>
                      {s.discovered_service !== s.service && <span class="muted"> (discovered as {s.discovered_service})</span>}
                    </>
                  )}
                  <div class="muted small-text" title={s.executable}>{s.executable}</div>
                </td>
                <td>{s.runtime || 'unknown'}{s.runtime_version && ` ${s.runtime_version}`}</td>
                <td>{s.pid}</td>
                <td>{s.ports.join(', ')}</td>
                <td>
                  {s.traced ? <span class="badge ok">traced</span> : <span class="badge muted-badge">not traced: {s.why_not}</span>}
                  <div class="muted small-text">{s.traced ? s.selected_by : s.why_not_detail}</div>
                </td>
                <td class="actions">
                  {s.why_not === 'disabled'
                    ? <button type="button" class="small" disabled={busy} aria-label={`Enable ${s.service}`} onClick={() => act(s.service, 'enable')}>Enable</button>
                    : <button type="button" class="small" disabled={busy || s.why_not === 'sdk'} aria-label={`Disable ${s.service}`} onClick={() => act(s.service, 'disable')}>Disable</button>}
                  <button type="button" class="small" disabled={busy} aria-label={`Rename ${s.service}`} onClick={() => setRenaming({ name: s.service, value: s.service })}>Rename</button>
                  <a class="small-link" href={`/search?service=${encodeURIComponent(s.service)}`}>Traces</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {saved.length > 0 && (
        <section class="saved-choices" aria-labelledby="saved-title">
          <h2 id="saved-title">Saved choices of services not running now</h2>
          <p class="hint">Kept in <code>sources.json</code> in the data directory; they apply when a process of the service runs again.</p>
          <table class="sources" aria-labelledby="saved-title">
            <thead>
              <tr><th>Service</th><th>Saved choice</th><th>Actions</th></tr>
            </thead>
            <tbody>
              {saved.map((c) => (
                <tr data-saved={c.discovered} data-enabled={c.enabled === undefined ? undefined : String(c.enabled)}>
                  <td>
                    <span class="svc-swatch" style={{ background: serviceColor(c.name || c.discovered) }} />
                    <b>{c.discovered}</b>
                  </td>
                  <td>{c.enabled === false ? <span class="badge muted-badge">{describeChoice(c)}</span> : describeChoice(c)}</td>
                  <td class="actions">
                    {c.enabled === false
                      ? <button type="button" class="small" disabled={busy} aria-label={`Enable ${c.discovered}`} onClick={() => act(c.discovered, 'enable')}>Enable</button>
                      : <button type="button" class="small" disabled={busy} aria-label={`Disable ${c.discovered}`} onClick={() => act(c.discovered, 'disable')}>Disable</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </main>
  );
}
