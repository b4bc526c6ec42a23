// The service map drawn by cytoscape with the dagre layout (callers left of callees). cytoscape is
// large, so it is loaded on first use (its own chunk): the other pages do not pay for it. A click
// on a node calls onOpen(service). The cytoscape instance is left on the container as `cy` for
// tools and tests; the page renders the same nodes and edges as tables for screen readers.
import type { Core, ElementDefinition, LayoutOptions } from 'cytoscape';
import { useEffect, useRef, useState } from 'preact/hooks';

import { ServiceMap } from '../lib/serviceMap';

interface Props {
  map: ServiceMap;
  onOpen: (service: string) => void;
}

type CytoscapeFactory = typeof import('cytoscape');
let loading: Promise<CytoscapeFactory> | null = null;

function loadCytoscape(): Promise<CytoscapeFactory> {
  loading ??= Promise.all([import('cytoscape'), import('cytoscape-dagre')]).then(([c, d]) => {
    const cytoscape = c.default;
    cytoscape.use(d.default);
    return cytoscape;
  });
  return loading;
}

function elements(map: ServiceMap): ElementDefinition[] {
  return [
    ...map.nodes.map((n) => ({ group: 'nodes' as const, data: { ...n, label: n.id } })),
    ...map.edges.map((e) => ({ group: 'edges' as const, data: { ...e, source: e.parent, target: e.child } })),
  ];
}

const sameShape = (cy: Core, map: ServiceMap) =>
  cy.nodes().length === map.nodes.length && cy.edges().length === map.edges.length &&
  map.nodes.every((n) => cy.getElementById(n.id).nonempty()) && map.edges.every((e) => cy.getElementById(e.id).nonempty());

export function ServiceGraph({ map, onOpen }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const cyRef = useRef<Core | null>(null);
  const openRef = useRef(onOpen);
  openRef.current = onOpen;
  const [failed, setFailed] = useState('');

  useEffect(() => () => {
    cyRef.current?.destroy();
    cyRef.current = null;
  }, []);

  useEffect(() => {
    let live = true;
    loadCytoscape().then((cytoscape) => {
      const el = host.current;
      if (!live || !el) return;
      const cy = cyRef.current;
      // A refresh with the same services and edges updates sizes, colours and labels in place:
      // the layout does not jump under the reader's eyes.
      if (cy && sameShape(cy, map)) {
        for (const n of map.nodes) cy.getElementById(n.id).data({ ...n, label: n.id });
        for (const e of map.edges) cy.getElementById(e.id).data({ ...e, source: e.parent, target: e.child });
        return;
      }
      cy?.destroy();
      const next = cytoscape({
        container: el,
        elements: elements(map),
        minZoom: 0.3,
        maxZoom: 2.5,
        wheelSensitivity: 0.3,
        style: [
          {
            selector: 'node',
            style: {
              'background-color': 'data(color)',
              width: 'data(size)',
              height: 'data(size)',
              label: 'data(label)',
              'text-valign': 'bottom',
              'text-margin-y': 5,
              'font-size': 13,
              'font-family': 'system-ui, sans-serif',
              color: '#1d2330',
              'text-background-color': '#ffffff',
              'text-background-opacity': 0.85,
              'text-background-padding': '2px',
              'border-width': 2,
              'border-color': '#ffffff',
            },
          },
          {
            selector: 'edge',
            style: {
              width: 'data(width)',
              'line-color': 'data(color)',
              'target-arrow-color': 'data(color)',
              'target-arrow-shape': 'triangle',
              'curve-style': 'bezier',
              label: 'data(label)',
              'font-size': 11,
              color: '#1d2330',
              'text-background-color': '#ffffff',
              'text-background-opacity': 0.9,
              'text-background-padding': '2px',
            },
          },
          { selector: 'node:active, node:selected', style: { 'border-color': '#1f5fbf', 'border-width': 3 } },
        ],
        layout: { name: 'dagre', rankDir: 'LR', nodeSep: 50, rankSep: 160, padding: 40 } as LayoutOptions,
      });
      next.on('tap', 'node', (e) => openRef.current(e.target.id()));
      next.on('mouseover', 'node', () => { el.style.cursor = 'pointer'; });
      next.on('mouseout', 'node', () => { el.style.cursor = ''; });
      // Not too close for a graph of two nodes.
      if (next.zoom() > 1.5) {
        next.zoom(1.5);
        next.center();
      }
      cyRef.current = next;
      (el as HTMLDivElement & { cy?: Core }).cy = next;
      el.dataset.ready = 'true';
    }, (e: Error) => live && setFailed(e.message));
    return () => { live = false; };
  }, [map]);

  if (failed) return <p class="error-box" role="alert">The map could not be drawn: {failed}</p>;
  return <div ref={host} class="map-canvas" role="img"
    aria-label={`Service map: ${map.nodes.length} services, ${map.edges.length} connections; the tables below list them`} />;
}
