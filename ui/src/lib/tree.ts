// Builds the span tree of one Jaeger trace: parents from CHILD_OF references, children in start
// order, the depth of each span, and the numbers the trace header and the search list show.
// Real traces are not always whole: a span whose parent never arrived is a root (marked orphan),
// and a reference cycle (corrupt data) cannot hang the page: every span appears exactly once.
import { Process, Span, Trace, isErrorSpan } from './jaeger';

export interface TreeNode {
  key: string; // unique in the trace: the span id (suffixed if the id repeats)
  span: Span;
  service: string;
  process: Process;
  parent: TreeNode | null;
  children: TreeNode[];
  depth: number; // 0 for a root
  error: boolean;
  orphan: boolean; // has a CHILD_OF reference to a span the trace does not hold
  descendants: number; // every span below this one
}

export interface ServiceCount {
  service: string;
  count: number;
  errors: number;
}

export interface TraceModel {
  traceID: string;
  roots: TreeNode[];
  nodes: TreeNode[]; // depth-first, children in start order: the timeline's row order
  byKey: Map<string, TreeNode>;
  startTime: number; // µs
  endTime: number; // µs
  duration: number; // µs
  depth: number; // levels: 1 for a lone root
  services: ServiceCount[]; // most spans first, then by name
  errorCount: number;
}

const UNKNOWN_PROCESS: Process = { serviceName: 'unknown_service', tags: [] };

function byStart(a: TreeNode, b: TreeNode): number {
  return a.span.startTime - b.span.startTime || a.span.spanID.localeCompare(b.span.spanID);
}

export function buildTraceModel(trace: Trace): TraceModel {
  const spans = trace.spans ?? [];
  const nodes: TreeNode[] = [];
  const firstById = new Map<string, TreeNode>();
  const seenKeys = new Map<string, number>();
  for (const span of spans) {
    const n = seenKeys.get(span.spanID) ?? 0;
    seenKeys.set(span.spanID, n + 1);
    const process = trace.processes?.[span.processID] ?? UNKNOWN_PROCESS;
    const node: TreeNode = {
      key: n === 0 ? span.spanID : `${span.spanID}~${n}`,
      span,
      service: process.serviceName || UNKNOWN_PROCESS.serviceName,
      process,
      parent: null,
      children: [],
      depth: 0,
      error: isErrorSpan(span),
      orphan: false,
      descendants: 0,
    };
    nodes.push(node);
    if (n === 0) firstById.set(span.spanID, node);
  }

  const roots: TreeNode[] = [];
  for (const node of nodes) {
    const ref = node.span.references?.find((r) => r.refType === 'CHILD_OF' && r.spanID !== node.span.spanID);
    const parent = ref ? firstById.get(ref.spanID) : undefined;
    if (parent && parent !== node) {
      node.parent = parent;
      parent.children.push(node);
    } else {
      node.orphan = ref !== undefined;
      roots.push(node);
    }
  }

  // Walk from the roots; spans left unvisited sit on a parent cycle: cut each at one span and
  // walk again, so that every span is shown once.
  const ordered: TreeNode[] = [];
  const visited = new Set<TreeNode>();
  const walk = (start: TreeNode) => {
    const stack: TreeNode[] = [start];
    start.depth = 0;
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (visited.has(node)) continue;
      visited.add(node);
      ordered.push(node);
      node.children.sort(byStart);
      for (let i = node.children.length - 1; i >= 0; i--) {
        node.children[i].depth = node.depth + 1;
        stack.push(node.children[i]);
      }
    }
  };
  roots.sort(byStart);
  for (const root of roots) walk(root);
  for (const node of nodes) {
    if (visited.has(node)) continue;
    if (node.parent) node.parent.children = node.parent.children.filter((c) => c !== node);
    node.parent = null;
    node.orphan = true;
    roots.push(node);
    walk(node);
  }

  // Descendant counts, children before parents (reverse depth-first order).
  for (let i = ordered.length - 1; i >= 0; i--) {
    const node = ordered[i];
    if (node.parent) node.parent.descendants += node.descendants + 1;
  }

  let startTime = Infinity;
  let endTime = -Infinity;
  let depth = 0;
  let errorCount = 0;
  const perService = new Map<string, ServiceCount>();
  for (const node of ordered) {
    startTime = Math.min(startTime, node.span.startTime);
    endTime = Math.max(endTime, node.span.startTime + node.span.duration);
    depth = Math.max(depth, node.depth + 1);
    if (node.error) errorCount++;
    const sc = perService.get(node.service) ?? { service: node.service, count: 0, errors: 0 };
    sc.count++;
    if (node.error) sc.errors++;
    perService.set(node.service, sc);
  }
  if (ordered.length === 0) startTime = endTime = 0;
  const services = [...perService.values()].sort((a, b) => b.count - a.count || a.service.localeCompare(b.service));

  return {
    traceID: trace.traceID,
    roots,
    nodes: ordered,
    byKey: new Map(ordered.map((n) => [n.key, n])),
    startTime,
    endTime,
    duration: endTime - startTime,
    depth,
    services,
    errorCount,
  };
}

// The rows the timeline shows: depth-first order, without the descendants of collapsed spans.
export function visibleNodes(model: TraceModel, collapsed: ReadonlySet<string>): TreeNode[] {
  if (collapsed.size === 0) return model.nodes;
  const rows: TreeNode[] = [];
  for (let i = 0; i < model.nodes.length; i++) {
    const node = model.nodes[i];
    rows.push(node);
    // Depth-first order keeps a span's descendants right after it: skip them in one step.
    if (collapsed.has(node.key)) i += node.descendants;
  }
  return rows;
}

// The search list's line for a trace: the root span (the earliest root when there are several),
// its services with span counts, duration, start and errors.
export interface TraceSummary {
  traceID: string;
  rootService: string;
  rootOperation: string;
  startTime: number;
  duration: number;
  spanCount: number;
  errorCount: number;
  services: ServiceCount[];
}

export function summarizeTrace(trace: Trace): TraceSummary {
  const model = buildTraceModel(trace);
  // A true root (no parent reference at all) names the trace better than an orphan.
  const root = model.roots.find((r) => !r.orphan) ?? model.roots[0];
  return {
    traceID: trace.traceID,
    rootService: root?.service ?? '',
    rootOperation: root?.span.operationName ?? '(no spans)',
    startTime: model.startTime,
    duration: model.duration,
    spanCount: model.nodes.length,
    errorCount: model.errorCount,
    services: model.services,
  };
}
