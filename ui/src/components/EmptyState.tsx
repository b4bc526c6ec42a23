// First run: nothing is stored yet. Says how traces arrive, and whether the agent runs here.
import { useEffect, useState } from 'preact/hooks';

import * as api from '../lib/api';

export function EmptyState() {
  const [agent, setAgent] = useState<api.SourcesAnswer['agent'] | null>(null);
  useEffect(() => {
    api.sources().then((s) => setAgent(s.agent), () => setAgent(null));
  }, []);
  return (
    <section class="empty-state" aria-labelledby="empty-title">
      <h1 id="empty-title">No traces yet</h1>
      <p>Hodos shows traces as soon as spans arrive. There are two ways in:</p>
      <ol>
        <li>
          <b>Services on this host, without code changes.</b> The Hodos agent (eBPF) picks up the
          processes that listen on TCP ports and traces their requests; send them some traffic.{' '}
          {agent?.running === true && <span class="ok">The agent is running: see <a href="/sources">Sources</a> for what it traces.</span>}
          {agent?.running === false && (
            <span class="warn">The agent is not running here{agent.reason ? ` (${agent.reason})` : ''}: start{' '}
              <code>sudo hodos up</code> without <code>--no-agent</code>.</span>
          )}
        </li>
        <li>
          <b>Apps with an OpenTelemetry SDK</b> send OTLP to the endpoints <code>hodos up</code> printed
          at start, by default <code>OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318</code> (OTLP/HTTP,
          traces at <code>/v1/traces</code>) or <code>127.0.0.1:4317</code> (OTLP/gRPC).
        </li>
      </ol>
      <p class="muted" aria-live="polite">This page looks again every few seconds and shows the search once traces are stored.</p>
    </section>
  );
}
