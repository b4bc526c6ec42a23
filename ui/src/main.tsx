import { render } from 'preact';
import { LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';

import { checkToken, onUnauthorized, saveToken, status as fetchStatus, Status } from './lib/api';
import { ActionsPage } from './pages/Actions';
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
        {link('/actions', 'Actions')}
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

// Shown in place of the page when an answer was 401: `hodos up` listens off loopback (or was given
// --auth-token) and wants its bearer token. The token is checked against the API before it is
// kept, so a wrong one is refused here, with the reason, and never saved.
function TokenPage({ refused }: { refused: boolean }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState(refused
    ? 'The saved token was refused: `hodos up` now uses another one (restarted with a different --auth-token, or a new data directory). Paste the current one.'
    : '');
  const [checking, setChecking] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const token = value.trim();
    if (!token) {
      setError('Paste the token first.');
      return;
    }
    setChecking(true);
    const answer = await checkToken(token);
    setChecking(false);
    if (answer === 'ok') {
      saveToken(token);
      location.reload(); // every page loads its data again, now with the token
    } else if (answer === 'refused') {
      setError('Wrong token: the API refused it (401). Check the `auth:` line `hodos up` printed, or its --auth-token.');
    } else {
      setError(`Could not check the token: ${answer}.`);
    }
  };
  return (
    <main class="page token-page" aria-labelledby="token-title">
      <form class="token-prompt" onSubmit={submit} noValidate>
        <h1 id="token-title">This Hodos API needs a token</h1>
        <p>
          <code>hodos up</code> listens beyond this machine, so its API asks for the bearer token it printed at
          start (the <code>auth:</code> line; a generated one is kept in <code>api-token</code> in its data
          directory), or the one it was given with <code>--auth-token</code>.
        </p>
        <label for="api-token">API token</label>
        <div class="token-row">
          <input id="api-token" name="token" type="password" value={value} autocomplete="off" autofocus spellcheck={false}
            aria-invalid={error ? true : undefined} aria-describedby={error ? 'token-error' : undefined}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
          <button type="submit" class="primary" disabled={checking}>{checking ? 'Checking…' : 'Use token'}</button>
        </div>
        {error && <p id="token-error" class="error-box" role="alert">{error}</p>}
        <p class="muted small-text">
          It is kept in this browser (localStorage) for this address, and sent with every API call.
        </p>
      </form>
    </main>
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
  // Once an answer is 401, the pages give way to the token page (their polling stops with them).
  const [auth, setAuth] = useState<{ refused: boolean } | null>(null);
  useEffect(() => onUnauthorized((sent) => setAuth((prev) => prev ?? { refused: sent !== '' })), []);
  return (
    <LocationProvider>
      <Nav />
      {auth ? <TokenPage refused={auth.refused} /> : <Router>
        <Route path="/" component={Home} />
        <Route path="/search" component={SearchPage} />
        <Route path="/trace/:id" component={TracePage} />
        <Route path="/map" component={MapPage} />
        <Route path="/services" component={ServicesPage} />
        <Route path="/sources" component={SourcesPage} />
        <Route path="/destinations" component={DestinationsPage} />
        <Route path="/actions" component={ActionsPage} />
        <Route default component={NotFound} />
      </Router>}
    </LocationProvider>
  );
}

render(<App />, document.getElementById('app')!);
