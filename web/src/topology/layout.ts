/**
 * Places the topology's boxes with ELK's layered algorithm, top to bottom: external networks,
 * routers, the networks behind them. Parts not connected to each other (networks without a
 * router) are packed side by side towards the screen's aspect ratio. elkjs is large, so it is
 * loaded on first use, in parallel with the data.
 */
import type { ELK as Elk, ElkNode } from 'elkjs/lib/elk-api.js';
import { mark } from '../perf.js';
import type { Topology } from './graph.js';

export interface Point {
  x: number;
  y: number;
}

export interface Positions {
  /** Top-left corner of each box, by id. */
  at: Map<string, Point>;
  /** Each drawn edge's route (orthogonal, start to end), by edge id. */
  routes: Map<string, Point[]>;
  width: number;
  height: number;
}

let engine: Promise<Elk> | undefined;

/**
 * A small graph laid out once while the data is still on its way: ELK's first layout is several
 * times slower than the next ones (the JavaScript engine compiles it on the way).
 */
const WARM_UP: ElkNode = {
  id: 'warm-up',
  layoutOptions: { 'elk.algorithm': 'layered', 'elk.direction': 'DOWN', 'elk.edgeRouting': 'ORTHOGONAL' },
  children: ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, width: 100, height: 40 })),
  edges: [
    { id: 'ab', sources: ['a'], targets: ['b'] },
    { id: 'ac', sources: ['a'], targets: ['c'] },
    { id: 'bd', sources: ['b'], targets: ['d'] },
  ],
};

/** Starts loading the layout engine (idempotent). */
export function loadLayoutEngine(): Promise<Elk> {
  engine ??= import('elkjs/lib/elk.bundled.js').then(async (m) => {
    const elk = new m.default();
    await elk.layout(WARM_UP);
    mark('neutrino:elk-loaded');
    return elk;
  });
  return engine;
}

export async function layout(topology: Topology, aspectRatio: number): Promise<Positions> {
  const elk = await loadLayoutEngine();
  const boxes = [...topology.cards, ...topology.routers];
  const input: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.edgeNodeBetweenLayers': '16',
      'elk.spacing.edgeNode': '14',
      'elk.spacing.nodeNode': '24',
      'elk.layered.spacing.nodeNodeBetweenLayers': '56',
      'elk.spacing.componentComponent': '28',
      'elk.separateConnectedComponents': 'true',
      // Narrower than the screen: the packing overshoots, and the widest row sets the zoom.
      'elk.aspectRatio': String(Math.max(0.5, Math.min(3, aspectRatio * 0.7))),
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
    },
    children: boxes.map((b) => ({ id: b.id, width: b.width, height: b.height })),
    edges: [
      ...topology.edges.map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
      ...topology.spacers.map((e, i) => ({ id: `spacer-${i}`, sources: [e.source], targets: [e.target] })),
    ],
  };
  const graph = await elk.layout(input);
  const at = new Map<string, Point>();
  for (const child of graph.children ?? []) at.set(child.id, { x: child.x ?? 0, y: child.y ?? 0 });
  const routes = new Map<string, Point[]>();
  for (const edge of graph.edges ?? []) {
    const section = edge.sections?.[0];
    if (section && !edge.id.startsWith('spacer-'))
      routes.set(edge.id, [section.startPoint, ...(section.bendPoints ?? []), section.endPoint]);
  }
  return { at, routes, width: graph.width ?? 0, height: graph.height ?? 0 };
}
