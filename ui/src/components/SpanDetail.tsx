// The selected span: identity, timing, kind and status, then its attributes, resource, events
// (Jaeger "logs") and links (FOLLOWS_FROM references).
import { KeyValue, TagValue, tagValue } from '../lib/jaeger';
import { formatDuration, formatTimestamp } from '../lib/format';
import { serviceColor } from '../lib/colors';
import { TraceModel, TreeNode } from '../lib/tree';
import { CopyButton } from './CopyButton';

// Tags the API derives from the span's kind and status (docs/api.md): shown in the summary, not
// repeated among the attributes.
const DERIVED = new Set(['span.kind', 'error', 'otel.status_code', 'otel.status_description', 'otel.scope.name', 'otel.scope.version']);

function show(v: TagValue): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function KeyValues({ items, label }: { items: KeyValue[]; label: string }) {
  if (items.length === 0) return <p class="muted">none</p>;
  return (
    <table class="kv" aria-label={label}>
      <tbody>
        {items.map((kv) => (
          <tr data-key={kv.key}>
            <th scope="row">{kv.key}</th>
            <td class={`kv-${kv.type}`}>{show(kv.value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function SpanDetail({ node, model, onClose }: { node: TreeNode; model: TraceModel; onClose: () => void }) {
  const s = node.span;
  const kind = tagValue(s.tags, 'span.kind');
  const statusCode = tagValue(s.tags, 'otel.status_code');
  const statusMessage = tagValue(s.tags, 'otel.status_description');
  const scope = tagValue(s.tags, 'otel.scope.name');
  const scopeVersion = tagValue(s.tags, 'otel.scope.version');
  const attributes = s.tags.filter((t) => !DERIVED.has(t.key));
  const resource: KeyValue[] = [{ key: 'service.name', type: 'string', value: node.service }, ...node.process.tags];
  const links = (s.references ?? []).filter((r) => r.refType === 'FOLLOWS_FROM');
  const parentRef = (s.references ?? []).find((r) => r.refType === 'CHILD_OF');

  return (
    <aside class="span-detail" aria-label="Span detail" data-span-id={s.spanID}>
      <header>
        <h2><span class="svc-swatch" style={{ background: serviceColor(node.service) }} />{node.service}: {s.operationName}</h2>
        <button type="button" class="small" onClick={onClose} aria-label="Close span detail">Close</button>
      </header>
      <dl class="span-summary">
        <div><dt>Span ID</dt><dd><code>{s.spanID}</code> <CopyButton text={s.spanID} label="Copy span id" /></dd></div>
        <div><dt>Parent</dt><dd>{node.parent
          ? <a href={`/trace/${model.traceID}?span=${node.parent.key}`}><code>{node.parent.span.spanID}</code> {node.parent.span.operationName}</a>
          : parentRef ? <span><code>{parentRef.spanID}</code> (not in this trace)</span> : 'none (root)'}</dd></div>
        <div><dt>Start</dt><dd>+{formatDuration(s.startTime - model.startTime)} <span class="muted">({formatTimestamp(s.startTime)})</span></dd></div>
        <div><dt>Duration</dt><dd>{formatDuration(s.duration)}</dd></div>
        <div><dt>Kind</dt><dd>{kind !== undefined ? show(kind) : 'unspecified'}</dd></div>
        <div><dt>Status</dt><dd class={node.error ? 'error-text' : ''} data-testid="span-status">
          {statusCode !== undefined ? show(statusCode) : 'UNSET'}{statusMessage !== undefined && `: ${show(statusMessage)}`}</dd></div>
        {scope !== undefined && <div><dt>Scope</dt><dd>{show(scope)}{scopeVersion !== undefined && ` ${show(scopeVersion)}`}</dd></div>}
      </dl>
      <section>
        <h3>Attributes</h3>
        <KeyValues items={attributes} label="Attributes" />
      </section>
      <section>
        <h3>Resource</h3>
        <KeyValues items={resource} label="Resource" />
      </section>
      <section>
        <h3>Events ({s.logs?.length ?? 0})</h3>
        {(s.logs ?? []).length === 0 ? <p class="muted">none</p> : (
          <ol class="events">
            {s.logs.map((log) => {
              const name = tagValue(log.fields, 'event');
              return (
                <li>
                  <div><b>{name !== undefined ? show(name) : '(event)'}</b> <span class="muted">+{formatDuration(log.timestamp - s.startTime)} into the span</span></div>
                  <KeyValues items={log.fields.filter((f) => f.key !== 'event')} label={`Event ${name ?? ''}`} />
                </li>
              );
            })}
          </ol>
        )}
      </section>
      <section>
        <h3>Links ({links.length})</h3>
        {links.length === 0 ? <p class="muted">none</p> : (
          <ul>
            {links.map((l) => (
              <li><a href={l.traceID === model.traceID ? `/trace/${l.traceID}?span=${l.spanID}` : `/trace/${l.traceID}`}>
                trace <code>{l.traceID}</code>, span <code>{l.spanID}</code></a></li>
            ))}
          </ul>
        )}
      </section>
      {s.warnings && s.warnings.length > 0 && (
        <section><h3>Warnings</h3><ul>{s.warnings.map((w) => <li>{w}</li>)}</ul></section>
      )}
    </aside>
  );
}
