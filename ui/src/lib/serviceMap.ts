// The service map's model: which services are nodes, how big and what colour, and the edges with
// their labels, from the dependency links and the window's calls and error rates.
import { DependencyLink, HEALTH_COLORS, Health, formatPercent, healthOf, nodeSize } from './metrics';

export interface MapNode {
  id: string; // the service name
  calls: number; // server/consumer calls in the window; without any, the calls made to it
  errorRate: number | undefined;
  health: Health;
  size: number; // px
  color: string;
}

export interface MapEdge {
  id: string; // "parent->child"
  parent: string;
  child: string;
  calls: number;
  errorRate: number | undefined; // of this edge's calls (errorCount), else of the child's calls
  health: Health;
  color: string;
  width: number; // px
  label: string;
}

export interface ServiceMap {
  nodes: MapNode[];
  edges: MapEdge[];
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

// `calls` is each service's number of calls in the window, `errorRates` its share of failed calls.
// Nodes: every service on an edge, and every service that had calls; sorted by name.
export function buildServiceMap(links: DependencyLink[], calls: Map<string, number>, errorRates: Map<string, number>): ServiceMap {
  const ids = new Set<string>();
  for (const l of links) {
    ids.add(l.parent);
    ids.add(l.child);
  }
  for (const [service, n] of calls) if (n > 0) ids.add(service);
  // A node with no calls of its own (a database, which has no spans, or an untraced service) is
  // measured by its callers: the calls on its incoming edges and their failures.
  const incoming = new Map<string, { calls: number; errors: number | undefined }>();
  for (const l of links) {
    const sum = incoming.get(l.child) ?? { calls: 0, errors: 0 };
    sum.calls += l.callCount;
    sum.errors = sum.errors === undefined || l.errorCount === undefined ? undefined : sum.errors + l.errorCount;
    incoming.set(l.child, sum);
  }
  const measured = (id: string): { n: number; errorRate: number | undefined } => {
    const own = calls.get(id) ?? 0;
    const callers = incoming.get(id);
    if (own > 0 || !callers || callers.calls === 0) return { n: own, errorRate: errorRates.get(id) };
    return { n: callers.calls, errorRate: callers.errors === undefined ? undefined : callers.errors / callers.calls };
  };
  const maxCalls = Math.max(0, ...[...ids].map((id) => measured(id).n));
  const nodes = [...ids].sort().map((id): MapNode => {
    const { n, errorRate } = measured(id);
    const health = healthOf(n, errorRate);
    return { id, calls: n, errorRate, health, size: nodeSize(n, maxCalls), color: HEALTH_COLORS[health] };
  });
  const maxEdge = Math.max(1, ...links.map((l) => l.callCount));
  const edges = links
    .filter((l) => l.callCount > 0)
    .map((l): MapEdge => {
      // The edge's own failures when the API counts them (Hodos), else the callee's error rate.
      const errorRate = l.errorCount !== undefined ? l.errorCount / l.callCount : errorRates.get(l.child);
      const health = healthOf(l.callCount, errorRate);
      return {
        id: `${l.parent}->${l.child}`,
        parent: l.parent,
        child: l.child,
        calls: l.callCount,
        errorRate,
        health,
        color: health === 'ok' || health === 'idle' ? '#8a94a3' : HEALTH_COLORS[health],
        width: 1.5 + 4.5 * Math.sqrt(l.callCount / maxEdge),
        label: errorRate ? `${plural(l.callCount, 'call')} · ${formatPercent(errorRate)} err` : plural(l.callCount, 'call'),
      };
    })
    .sort((a, b) => a.parent.localeCompare(b.parent) || a.child.localeCompare(b.child));
  return { nodes, edges };
}
