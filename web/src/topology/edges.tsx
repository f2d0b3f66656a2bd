/**
 * A line drawn along the route the layout computed (orthogonal, around the boxes), labelled
 * with its address just above the box it ends at.
 */
import { BaseEdge, type Edge, type EdgeProps } from '@xyflow/react';
import type { Point } from './layout.js';

export type RoutedEdge = Edge<{ points: Point[]; text: string }, 'routed'>;

export function RoutedEdgeLine({ id, data, markerEnd, style }: EdgeProps<RoutedEdge>) {
  const points = data?.points ?? [];
  if (points.length < 2) return null;
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' ');
  const end = points[points.length - 1];
  return (
    <BaseEdge
      id={id}
      path={path}
      markerEnd={markerEnd}
      style={style}
      label={data?.text || undefined}
      labelX={end.x}
      labelY={end.y - 16}
      labelBgPadding={[4, 2]}
      labelBgBorderRadius={3}
    />
  );
}

export const EDGE_TYPES = { routed: RoutedEdgeLine };
