import { render } from 'preact';
import { LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';

import { onUnauthorized, saveToken, savedToken, status as fetchStatus, Status } from './lib/api';
import { DestinationsPage } from './pages/Destinations';
import { MapPage } from './pages/Map';
import { SearchPage } from './pages/Search';
import { ServicesPage } from './pages/Services';
import { SourcesPage } from './pages/Sources';
import { TracePage } from './pages/Trace';
import './style.css';

function Nav() {
  const { path } = useLocation();
  const link = (href: string, label: string) => (
    <a href={href} class={path.startsWith(href) ? 'active' : ''} aria-current={path.startsWith(href) ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <header class="topbar">
      <a class="brand" href="/search">Hodos</a>
      <nav aria-label="Pages">
        {link('/search', 'Search')}
        {link('/map', 'Map')}
        {link('/services', 'Services')}
        {link('/sources', 'Sources')}
        {link('/destinations', 'Destinations')}
      </nav>
      <StatusIndicator />
    </header>
  );
}

// The header's health dot (GET /api/v1/status): what is failing, if anything, in its title.
function StatusIndicator() {
  const [s, setS] = useState<Status | null>(null);
  useEffect(() => {
    const load = () => fetchStatus().then(setS, () => setS(null));
    load();
    const timer = setInterval(load, 10000);
    return () => clearInterval(timer);
  }, []);
  if (!s) return null;
  const problems: string[] = [];
  const agent = s.components?.agent;
  if (agent && !agent.running && !(agent.reason ?? '').includes('--no-agent')) problems.push(`agent: ${agent.reason ?? 'not running'}`);
  for (const d of s.components?.destinations ?? []) {
    if (d.health === 'failing') problems.push(`destination ${d.name}: ${d.last_error ?? 'failing'}`);
  }
  const ok = s.status === 'ok';
  return (
    <a class={`status-indicator ${ok ? 'ok' : 'degraded'}`} href="/destinations" data-status={s.status}
      title={ok ? 'Everything is running' : problems.join('\n')}>
      <span class="dot" aria-hidden="true" />{ok ? 'ok' : s.status}
    </a>
  );
}

// Shown when an answer was 401: `hodos up` listens off loopback and wants its bearer token.
function TokenPrompt({ onDone }: { onDone: () => void }) {
  const [value, setValue] = useState(savedToken());
  return (
    <form class="token-prompt" role="alertdialog" aria-labelledby="token-title"
      onSubmit={(e) => { e.preventDefault(); saveToken(value.trim()); onDone(); location.reload(); }}>
      <strong id="token-title">This Hodos API needs a bearer token.</strong>
      <span>`hodos up` printed it at start (the <code>auth:</code> line), or it was given with <code>--auth-token</code>.</span>
      <label>
        Token <input type="password" value={value} autocomplete="off"
          onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Use token</button>
    </form>
  );
}

function NotFound() {
  return <main class="page"><h1>Page not found</h1><p><a href="/search">Search traces</a></p></main>;
}

function Home() {
  const { route } = useLocation();
  useEffect(() => route('/search', true), []);
  return null;
}

function App() {
  const [needToken, setNeedToken] = useState(false);
  useEffect(() => onUnauthorized(() => setNeedToken(true)), []);
  return (
    <LocationProvider>
      <Nav />
      {needToken && <TokenPrompt onDone={() => setNeedToken(false)} />}
      <Router>
        <Route path="/" component={Home} />
        <Route path="/search" component={SearchPage} />
        <Route path="/trace/:id" component={TracePage} />
        <Route path="/map" component={MapPage} />
        <Route path="/services" component={ServicesPage} />
        <Route path="/sources" component={SourcesPage} />
        <Route path="/destinations" component={DestinationsPage} />
        <Route default component={NotFound} />
      </Router>
    </LocationProvider>
  );
}

render(<App />, document.getElementById('app')!);
