// The critical path of a trace: the chain of work that decides when the trace ends. Starting at
// the root's end and walking back in time, at each moment the path is in the child that finished
// last before that moment (its own children decide in turn); where no child was running, the
// parent's own time is on the path. Children that overlap a later one only count for the part
// before it started; an asynchronous child that ends after its parent counts up to the parent's end
// only (the parent did not wait for the rest); a child starting before its parent (clock skew)
// counts from the parent's start.
//
// The result is a list of sections, each a span and a time range, covering the root exactly once.
import { TraceModel, TreeNode } from './tree';

export interface CriticalSection {
  key: string; // the span (TreeNode.key)
  start: number; // µs, absolute
  end: number; // µs
}

export interface CriticalPath {
  sections: CriticalSection[]; // in time order, without gaps, from the root's start to its end
  keys: ReadonlySet<string>; // the spans that have at least one section
  byKey: ReadonlyMap<string, CriticalSection[]>;
}

const spanEnd = (n: TreeNode) => n.span.startTime + n.span.duration;

interface Frame {
  node: TreeNode;
  start: number; // the window of this span on the path (clipped to its parent's)
  cursor: number; // walking back from the window's end
  children: TreeNode[]; // latest end first
  next: number;
}

function frame(node: TreeNode, start: number, end: number): Frame {
  const children = [...node.children].sort((a, b) => spanEnd(b) - spanEnd(a) || b.span.startTime - a.span.startTime);
  return { node, start, cursor: end, children, next: 0 };
}

// The path through `root` (by default the trace's main root: the first that is not an orphan).
// An explicit stack rather than recursion: a trace may nest thousands of spans deep.
export function criticalPath(model: TraceModel, root: TreeNode | undefined = model.roots.find((r) => !r.orphan) ?? model.roots[0]): CriticalPath {
  const sections: CriticalSection[] = [];
  if (root) {
    const stack: Frame[] = [frame(root, root.span.startTime, spanEnd(root))];
    while (stack.length > 0) {
      const f = stack[stack.length - 1];
      if (f.next < f.children.length) {
        const child = f.children[f.next++];
        // Sorted by end, so once the cursor has moved past a child's start it stays past it.
        if (child.span.startTime >= f.cursor) continue;
        const start = Math.max(child.span.startTime, f.start);
        const end = Math.min(spanEnd(child), f.cursor);
        if (end <= start) continue;
        if (end < f.cursor) sections.push({ key: f.node.key, start: end, end: f.cursor });
        f.cursor = start;
        stack.push(frame(child, start, end));
      } else {
        if (f.cursor > f.start) sections.push({ key: f.node.key, start: f.start, end: f.cursor });
        stack.pop();
      }
    }
  }
  sections.sort((a, b) => a.start - b.start || a.end - b.end);
  const byKey = new Map<string, CriticalSection[]>();
  for (const s of sections) {
    const list = byKey.get(s.key);
    if (list) list.push(s);
    else byKey.set(s.key, [s]);
  }
  return { sections, keys: new Set(byKey.keys()), byKey };
}
