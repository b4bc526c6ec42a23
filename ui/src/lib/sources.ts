// The saved source choices (sources.json, via GET /api/v1/sources `saved`) of services that no
// running process matches now: stopped services, or every one while the agent is off. The sources
// page lists them so that a service disabled once can be enabled again before it next runs.
import type { SourcesAnswer } from './api';

export interface SavedChoice {
  discovered: string; // the key of sources.json: the name discovery gives the service
  enabled?: boolean;
  name?: string; // renamed to
}

export function savedNotRunning(answer: Pick<SourcesAnswer, 'saved' | 'sources'>): SavedChoice[] {
  const live = new Set(answer.sources.map((s) => s.discovered_service));
  return Object.entries(answer.saved ?? {})
    .filter(([discovered]) => !live.has(discovered))
    .map(([discovered, o]) => ({ discovered, enabled: o.enabled, name: o.name }))
    .sort((a, b) => a.discovered.localeCompare(b.discovered));
}

// "disabled", "enabled", "renamed to web", "disabled, renamed to web".
export function describeChoice(c: SavedChoice): string {
  const parts: string[] = [];
  if (c.enabled !== undefined) parts.push(c.enabled ? 'enabled' : 'disabled');
  if (c.name) parts.push(`renamed to ${c.name}`);
  return parts.join(', ') || 'no choice';
}
