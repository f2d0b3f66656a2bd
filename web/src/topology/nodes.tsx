/**
 * How the topology's boxes look: a network card (header, subnets, DHCP, chips in a grid) and a
 * router box, drawn at the sizes `graph.ts` computed (at least: text wraps, never cut off; status
 * and flags on a line of their own). Every box and chip is a button: Tab reaches it, Enter or a
 * click opens its details.
 */
import { Handle, type Node, type NodeProps, Position } from '@xyflow/react';
import { memo } from 'react';
import type { Chip, NetworkCard, RouterBox, Selection } from './graph.js';
import { SIZES } from './graph.js';

export interface BoxActions {
  onSelect(selection: Selection, opener: HTMLElement): void;
  /** `kind:id` of the selected object, for highlighting. */
  selected: string | null;
}

export type NetworkNode = Node<{ card: NetworkCard; actions: BoxActions }, 'network'>;
export type RouterNode = Node<{ box: RouterBox; actions: BoxActions }, 'router'>;

const isSelected = (actions: BoxActions, s: Selection) => actions.selected === `${s.kind}:${s.id}`;

export function StatusText({ status, flags = [] }: { status: string; flags?: string[] }) {
  return (
    <span className="status-line">
      <span className={`status status-${status}`}>{status}</span>
      {flags.map((f) => (
        <span key={f} className="flag">
          {f}
        </span>
      ))}
    </span>
  );
}

function ChipButton({
  chip,
  width,
  height,
  actions,
}: {
  chip: Chip;
  width: number;
  height: number;
  actions: BoxActions;
}) {
  const floating = chip.floating?.join(', ');
  const text = `${chip.title} — ${chip.detail}${floating ? ` — floating IP ${floating}` : ''} — ${chip.status}${chip.host ? ` on ${chip.host}` : ''}`;
  return (
    <button
      type="button"
      className={`chip nodrag nopan status-border-${chip.status}${isSelected(actions, chip.select) ? ' selected' : ''}`}
      style={{ width, minHeight: height }}
      title={text}
      data-object={`${chip.select.kind}:${chip.select.id}`}
      onClick={(e) => actions.onSelect(chip.select, e.currentTarget)}
    >
      <span className="chip-name">{chip.title}</span>
      <span className="chip-status">
        <StatusText status={chip.status} flags={chip.flags} />
        {chip.host ? <span className="host">on {chip.host}</span> : null}
      </span>
      <span className="chip-detail">
        {chip.detail}
        {floating ? (
          <span className="badge">
            <span aria-hidden="true">⇄ </span>
            <span className="sr-only">floating IP </span>
            {floating}
          </span>
        ) : null}
      </span>
    </button>
  );
}

export const NetworkCardNode = memo(function NetworkCardNode({ data }: NodeProps<NetworkNode>) {
  const { card, actions } = data;
  const select: Selection = { kind: 'networks', id: card.id };
  return (
    <div
      className={`topo-card status-border-${card.status}${card.external ? ' external' : ''}${isSelected(actions, select) ? ' selected' : ''}`}
      style={{ width: card.width, minHeight: card.height, padding: SIZES.pad }}
    >
      <Handle type="target" position={Position.Top} isConnectable={false} className="handle" />
      <button
        type="button"
        className="card-header nodrag nopan"
        style={{ minHeight: card.headerH }}
        data-object={`networks:${card.id}`}
        onClick={(e) => actions.onSelect(select, e.currentTarget)}
      >
        <span className="card-name">{card.name}</span>
        <StatusText status={card.status} flags={card.adminDown ? ['admin down'] : []} />
        {card.meta ? <span className="card-meta">{card.meta}</span> : null}
      </button>
      <ul className="card-lines" aria-label={`subnets of ${card.name}`}>
        {card.subnets.length === 0 ? (
          <li className="muted" style={{ minHeight: SIZES.lineH }}>
            no subnet
          </li>
        ) : (
          card.subnets.map((s) => (
            <li key={s.id} style={{ minHeight: s.lines * SIZES.lineH }}>
              {s.label}
            </li>
          ))
        )}
        {card.dhcp.length > 0 ? (
          <li className="muted" style={{ minHeight: card.dhcpLines * SIZES.lineH }}>
            DHCP {card.dhcp.join(', ')}
          </li>
        ) : null}
      </ul>
      {card.chips.length > 0 ? (
        <div
          className="chips"
          style={{
            gridTemplateColumns: `repeat(${card.cols}, ${card.chipW}px)`,
            gap: SIZES.gap,
            marginTop: SIZES.pad / 2,
          }}
        >
          {card.chips.map((chip) => (
            <ChipButton key={chip.key} chip={chip} width={card.chipW} height={card.chipH} actions={actions} />
          ))}
        </div>
      ) : null}
      <Handle type="source" position={Position.Bottom} isConnectable={false} className="handle" />
    </div>
  );
});

export const RouterBoxNode = memo(function RouterBoxNode({ data }: NodeProps<RouterNode>) {
  const { box, actions } = data;
  const select: Selection = { kind: 'routers', id: box.id };
  return (
    <div className="topo-router-wrap" style={{ width: box.width, minHeight: box.height }}>
      <Handle type="target" position={Position.Top} isConnectable={false} className="handle" />
      <button
        type="button"
        className={`topo-router nodrag nopan status-border-${box.status}${isSelected(actions, select) ? ' selected' : ''}`}
        style={{ width: box.width, minHeight: box.height }}
        data-object={`routers:${box.id}`}
        onClick={(e) => actions.onSelect(select, e.currentTarget)}
      >
        <span className="card-title">
          <span className="router-icon" aria-hidden="true">
            ⇄
          </span>
          <span className="card-name">{box.name}</span>
        </span>
        <StatusText status={box.status} flags={box.adminDown ? ['admin down'] : []} />
        <span className="card-meta">{box.meta}</span>
      </button>
      <Handle type="source" position={Position.Bottom} isConnectable={false} className="handle" />
    </div>
  );
});

export const NODE_TYPES = { network: NetworkCardNode, router: RouterBoxNode };
