/**
 * The lineage of a task, product or model version drawn as a graph: each run a node (task,
 * notebook version, review status when it ran, when), the data it read from an upstream run
 * on the edge between them (product key and digest), the model version at the root. Laid out
 * by ELK (elkjs, layered); drawn as SVG with DOM APIs, every text through textContent.
 */
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';

import { elkLayout, layeredOptions, sectionPath } from './elk';

import { formatTime, reviewClass, reviewLabel, shortVersion } from './status';
import { arrowDefs, svg } from './dom';


/** A node of the server's lineage payload (see nbgov.core.lineage_graph). */
export interface ILineageNode {
  key: string;
  kind: 'task' | 'model' | 'missing' | string;
  task?: string | null;
  run_id?: string | null;
  synced?: boolean;
  outcome?: string | null;
  notebook?: {
    path?: string;
    version?: string | null;
    review_status?: string | null;
    /** Whether an approval of this version is signed: sent only where the project signs. */
    signed?: boolean;
  };
  params?: { [key: string]: unknown };
  metrics?: { [key: string]: unknown };
  inputs?: { task?: string; key?: string; path?: string; digest?: string | null }[];
  started?: string | null;
  model?: { name?: string; version?: string; uri?: string; aliases?: string[] };
  upstream: string[];
}

/** `GET nbgov/api/lineage?target=T` */
export interface ILineagePayload {
  target: { text: string; kind: string };
  roots: string[];
  nodes: { [key: string]: ILineageNode };
  missing?: string[];
  warnings?: string[];
  ui?: { url: string | null; command: string | null };
  /** Whether the project signs decisions: nodes say signed/unsigned only then. */
  signing?: boolean;
}

/** Node size, in SVG units: four lines of text. */
export const NODE = { width: 210, height: 78 };

/**
 * The text lines of a node, first line the title. `signing`: the project signs decisions, so
 * a run says whether the approval of its notebook version is signed (never said otherwise:
 * where nothing is signed, "unsigned" on every node is noise).
 */
export function nodeLines(node: ILineageNode, signing = false): string[] {
  if (node.kind === 'model') {
    const model = node.model ?? {};
    const aliases = (model.aliases ?? []).length ? ` @${(model.aliases ?? []).join(', @')}` : '';
    return [`model ${model.name ?? ''} v${model.version ?? ''}`, `${model.uri ?? ''}${aliases}`];
  }
  if (node.kind === 'missing') {
    return [node.task ?? 'unknown task', 'no lineage record'];
  }
  const review = node.notebook?.review_status;
  return [
    node.task ?? node.key,
    `notebook ${shortVersion(node.notebook?.version)}`,
    `review: ${review ? reviewLabel(review) : '—'}${signedNote(node, signing)}${node.synced === false ? ' · not synced' : ''}`,
    `${node.outcome ?? '—'} · ${formatTime(node.started)}`
  ];
}

function signedNote(node: ILineageNode, signing: boolean): string {
  const signed = node.notebook?.signed;
  return signing && typeof signed === 'boolean' ? (signed ? ' · signed' : ' · unsigned') : '';
}

/** What an edge from `up` into `node` carries: the products `node` read from that run. */
export function edgeLabel(node: ILineageNode, up: ILineageNode): string {
  const read = (node.inputs ?? []).filter(i => i.task && i.task === up.task);
  return read
    .map(i => `${i.key ?? i.path ?? '?'} ${i.digest ? i.digest.replace(/^[a-z0-9]+:/, '').slice(0, 8) : ''}`.trim())
    .join(', ');
}

/**
 * The ELK graph of a lineage payload: one child per node, one edge per upstream link
 * (upstream -> the run that read it), labelled with what was read. Direction UP: the model
 * (or the target run) at the top, what it came from below.
 */
export function lineageGraphInput(payload: ILineagePayload): ElkNode {
  const keys = Object.keys(payload.nodes);
  const present = new Set(keys);
  const edges: ElkExtendedEdge[] = [];
  for (const key of keys) {
    const node = payload.nodes[key];
    for (const up of node.upstream ?? []) {
      if (!present.has(up)) {
        continue;
      }
      const text = edgeLabel(node, payload.nodes[up]);
      edges.push({
        id: `e${edges.length}`,
        sources: [up],
        targets: [key],
        labels: text ? [{ id: `l${edges.length}`, text, width: 7 * text.length, height: 14 }] : []
      });
    }
  }
  return {
    id: 'lineage',
    layoutOptions: layeredOptions('UP'),
    children: keys.map(key => ({ id: key, width: NODE.width, height: NODE.height })),
    edges
  };
}

/** ELK's layout of the payload (positions of nodes, edge routes, label positions). */
export async function layoutLineage(payload: ILineagePayload): Promise<ElkNode> {
  return elkLayout(lineageGraphInput(payload));
}

/** Cut a line to what fits the node box (the full text is in the node's title). */
export function fit(text: string, max = 28): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

/**
 * Draw a laid-out lineage graph. Each node is a focusable `<g class="nbgov-lin-node">` with
 * `data-key`, `data-task` and `data-kind`; Enter or a click calls `onSelect`.
 */
export function renderLineage(
  layout: ElkNode,
  payload: ILineagePayload,
  onSelect: (node: ILineageNode) => void
): SVGSVGElement {
  const width = Math.ceil(layout.width ?? 0);
  const height = Math.ceil(layout.height ?? 0);
  const root = svg('svg', { class: 'nbgov-lin', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group' });
  const title = svg('title');
  title.textContent = `lineage of ${payload.target.text}`;
  root.appendChild(title);
  root.appendChild(arrowDefs('nbgov-lin-arrow'));

  for (const edge of (layout.edges ?? []) as ElkExtendedEdge[]) {
    for (const section of edge.sections ?? []) {
      const path = svg('path', {
        class: 'nbgov-dag-edge',
        d: sectionPath(section),
        'marker-end': 'url(#nbgov-lin-arrow)'
      });
      path.dataset.from = edge.sources[0];
      path.dataset.to = edge.targets[0];
      root.appendChild(path);
    }
    for (const label of edge.labels ?? []) {
      const text = svg('text', { class: 'nbgov-lin-edge-label', x: label.x ?? 0, y: (label.y ?? 0) + 11 });
      text.textContent = label.text ?? '';
      root.appendChild(text);
    }
  }

  for (const child of layout.children ?? []) {
    const node = payload.nodes[child.id];
    if (!node) {
      continue;
    }
    const review = node.notebook?.review_status ?? 'unreviewed';
    const g = svg('g', {
      class: `nbgov-lin-node nbgov-lin-${node.kind === 'model' || node.kind === 'missing' ? node.kind : 'task'} ${reviewClass(review)}`,
      transform: `translate(${child.x ?? 0}, ${child.y ?? 0})`,
      tabindex: 0,
      role: 'button'
    });
    g.dataset.key = node.key;
    g.dataset.kind = node.kind;
    if (node.task) {
      g.dataset.task = node.task;
    }
    const lines = nodeLines(node, payload.signing === true);
    const tip = svg('title');
    tip.textContent = lines.join('\n');
    g.appendChild(tip);
    g.appendChild(svg('rect', { class: 'nbgov-dag-box', width: NODE.width, height: NODE.height, rx: 6 }));
    lines.forEach((line, i) => {
      const text = svg('text', { class: i ? 'nbgov-dag-sub' : 'nbgov-dag-name', x: 10, y: 19 + i * 17 });
      text.textContent = fit(line, i ? 30 : 24);
      g.appendChild(text);
    });
    g.addEventListener('click', () => onSelect(node));
    g.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        onSelect(node);
      }
    });
    root.appendChild(g);
  }
  return root;
}
