/**
 * The live topology: the graph of `graph.ts`, placed by `layout.ts`, drawn with React Flow
 * (pan, zoom, fit, minimap). It is recomputed from the collections whenever they change; the
 * layout reruns only when boxes or lines changed, so a status change just recolours.
 */
import {
  Background,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useOnViewportChange,
  useReactFlow,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Collections } from '../api/resources.js';
import { mark } from '../perf.js';
import { lineWidth } from '../views/traffic.js';
import { EDGE_TYPES, type RoutedEdge } from './edges.js';
import { buildTopology, type Selection } from './graph.js';
import { layout, loadLayoutEngine, type Positions } from './layout.js';
import { type BoxActions, type NetworkNode, NODE_TYPES, type RouterNode } from './nodes.js';

export interface TopologyProps {
  data: Partial<Collections>;
  loaded: boolean;
  /** Project names when objects of several projects are shown (admins). */
  projects: ReadonlyMap<string, string> | null;
  selected: Selection | null;
  onSelect(selection: Selection, opener: HTMLElement): void;
  /** Each port's current rate (bit/s, both ways): a router's lines are drawn as wide as their traffic. */
  rates?: ReadonlyMap<string, number>;
}

const LEGEND_H = 36;

const STATUS_COLOURS: Record<string, string> = {
  ACTIVE: '#2da44e',
  DOWN: '#8c959f',
  BUILD: '#0969da',
  ERROR: '#cf222e',
};

/**
 * Fits the whole layout into the view, for each new layout and each change of the view's size (a
 * resized window, the details panel opening) until the user pans or zooms; marks the first fitted,
 * painted layout as "rendered" and "interactive".
 */
function FitToLayout({
  positions,
  container,
}: {
  positions: Positions | null;
  container: HTMLDivElement | null;
}) {
  const flow = useReactFlow();
  const userMoved = useRef(false);
  const fitting = useRef(false);
  useOnViewportChange({
    onStart: () => {
      // Our own setViewport (no animation) starts while `fitting` is set; anything else is the user.
      if (!fitting.current) userMoved.current = true;
    },
  });
  const fit = useCallback(async () => {
    if (!positions || !container || userMoved.current) return false;
    const box = container.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) return false;
    // Keep the legend's strip at the bottom free.
    const cw = box.width;
    const ch = box.height - LEGEND_H;
    const zoom = Math.max(0.05, Math.min(1.25, Math.min(cw / positions.width, ch / positions.height)));
    fitting.current = true;
    await flow.setViewport({
      x: (cw - positions.width * zoom) / 2,
      y: Math.max(0, (ch - positions.height * zoom) / 2),
      zoom,
    });
    fitting.current = false;
    return true;
  }, [positions, container, flow]);
  useEffect(() => {
    void fit().then((fitted) => {
      if (!fitted) return;
      mark('neutrino:topology-rendered');
      // Two frames: the fitted view has been painted and input is handled again.
      requestAnimationFrame(() => requestAnimationFrame(() => mark('neutrino:topology-interactive')));
    });
  }, [fit]);
  useEffect(() => {
    if (!container) return;
    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => void fit());
    });
    observer.observe(container);
    return () => {
      cancelAnimationFrame(frame);
      observer.disconnect();
    };
  }, [container, fit]);
  return null;
}

function Flow({ data, loaded, projects, selected, onSelect, rates }: TopologyProps) {
  const topology = useMemo(() => buildTopology(data, { projects }), [data, projects]);
  const [positions, setPositions] = useState<{ key: string; at: Positions } | null>(null);
  const [layoutError, setLayoutError] = useState<string | null>(null);
  const container = useRef<HTMLDivElement>(null);

  const { layoutKey } = topology;
  const latest = useRef(topology);
  latest.current = topology;
  useEffect(() => {
    if (!loaded) return;
    let cancelled = false;
    const box = container.current?.getBoundingClientRect();
    const aspect = box && box.height > 0 ? box.width / box.height : 1.6;
    layout(latest.current, aspect).then(
      (at) => {
        if (cancelled) return;
        mark('neutrino:layout');
        setPositions({ key: layoutKey, at });
        setLayoutError(null);
      },
      (err: unknown) => !cancelled && setLayoutError(String(err)),
    );
    return () => {
      cancelled = true;
    };
  }, [layoutKey, loaded]);

  const actions: BoxActions = useMemo(
    () => ({ onSelect, selected: selected ? `${selected.kind}:${selected.id}` : null }),
    [onSelect, selected],
  );

  const nodes = useMemo(() => {
    if (!positions) return [];
    const at = positions.at.at;
    const out: (NetworkNode | RouterNode)[] = [];
    for (const card of topology.cards) {
      const p = at.get(card.id);
      if (p)
        out.push({
          id: card.id,
          type: 'network',
          position: p,
          width: card.width,
          height: card.height,
          data: { card, actions },
        });
    }
    for (const box of topology.routers) {
      const p = at.get(box.id);
      if (p)
        out.push({
          id: box.id,
          type: 'router',
          position: p,
          width: box.width,
          height: box.height,
          data: { box, actions },
        });
    }
    return out;
  }, [topology, positions, actions]);

  const edges: RoutedEdge[] = useMemo(() => {
    const routes = positions?.at.routes;
    if (!routes) return [];
    return topology.edges
      .filter((e) => routes.has(e.id))
      .map((e) => ({
        id: e.id,
        source: e.source,
        target: e.target,
        type: 'routed',
        data: { points: routes.get(e.id)!, text: e.label },
        className: `edge-${e.kind}`,
        style: { strokeWidth: lineWidth(rates?.get(e.port)) },
        markerEnd: { type: MarkerType.ArrowClosed, width: 14, height: 14 },
        focusable: false,
        selectable: false,
      }));
  }, [topology, positions, rates]);

  const empty = loaded && topology.cards.length === 0 && topology.routers.length === 0;
  return (
    <div className="topology" ref={container}>
      {layoutError ? (
        <p role="alert" className="error">
          Layout failed: {layoutError}
        </p>
      ) : null}
      {!loaded ? <p className="topology-note">Loading…</p> : null}
      {empty ? (
        <p className="topology-note">
          Nothing here yet. Create a network under <a href="#/networks">Networks</a>.
        </p>
      ) : null}
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        edgeTypes={EDGE_TYPES}
        colorMode="system"
        nodesDraggable={false}
        nodesConnectable={false}
        nodesFocusable={false}
        edgesFocusable={false}
        elementsSelectable={false}
        minZoom={0.05}
        maxZoom={2.5}
        proOptions={{ hideAttribution: true }}
        aria-label="Network topology"
      >
        <FitToLayout positions={positions?.at ?? null} container={container.current} />
        <Background gap={24} />
        <Controls showInteractive={false} aria-label="Zoom controls" />
        {/* Bottom left, beside the zoom buttons: the details panel opens on the right. */}
        <MiniMap
          position="bottom-left"
          className="minimap"
          pannable
          zoomable
          ariaLabel="Overview of the topology"
          nodeColor={(n) =>
            STATUS_COLOURS[
              n.type === 'router' ? (n as RouterNode).data.box.status : (n as NetworkNode).data.card.status
            ] ?? '#8c959f'
          }
          nodeStrokeWidth={2}
        />
      </ReactFlow>
      <p className="topology-legend">
        <span className="status status-ACTIVE">ACTIVE</span>
        <span className="status status-BUILD">BUILD</span>
        <span className="status status-DOWN">DOWN</span>
        <span className="status status-ERROR">ERROR</span>
        <span className="muted">
          {topology.objects} objects · <kbd>Tab</kbd> to move, <kbd>Enter</kbd> for details
        </span>
      </p>
    </div>
  );
}

export function TopologyView(props: TopologyProps) {
  // Fetch the layout engine while the data is still on its way.
  useEffect(() => {
    mark('neutrino:topology-start');
    void loadLayoutEngine();
  }, []);
  return (
    <ReactFlowProvider>
      <Flow {...props} />
    </ReactFlowProvider>
  );
}
