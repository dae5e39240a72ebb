/**
 * The pipeline DAG as an SVG drawing, laid out by ELK as the lineage graph is (elk.ts), with a
 * quick layered layout computed from each task's `upstream` (pure, tested) drawn first while
 * ELK works, and a renderer that builds SVG elements with textContent only.
 */
import {
  buildClass,
  buildLabel,
  isUnsynced,
  metricsSummary,
  reviewClass,
  reviewLabel
} from './status';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';

import { ITask } from './tokens';
import { arrowDefs, svg } from './dom';
import { elkLayout, layeredOptions, sectionPath } from './elk';


/** Geometry of the drawing, in SVG user units. */
export const GEOMETRY = {
  nodeWidth: 176,
  nodeHeight: 60,
  gapX: 24,
  gapY: 40,
  margin: 12
};

/** Where one task is drawn. */
export interface INodePosition {
  name: string;
  layer: number;
  order: number;
  x: number;
  y: number;
}

/** An edge from an upstream task to a downstream one. */
export interface IEdge {
  from: string;
  to: string;
  /** SVG path data from the bottom of `from` to the top of `to`. */
  d: string;
  /** True when the edge goes round the tasks between (it spans layers holding tasks in its way). */
  detour: boolean;
}

/** The computed layout. */
export interface ILayout {
  nodes: Map<string, INodePosition>;
  edges: IEdge[];
  width: number;
  height: number;
  /** Upstream names no task has (drawn nowhere, reported). */
  missing: string[];
  /** Tasks that are part of a cycle (placed on the last layer, reported). */
  cyclic: string[];
}

/**
 * Assign each task to a layer (longest path from a source task) and order each layer by the
 * mean position of its upstream tasks, which keeps edges short and mostly uncrossed.
 *
 * Args:
 *   tasks: the pipeline's tasks; only `name` and `upstream` are read.
 *
 * Returns:
 *   Positions (top-down: layer = row), edges, overall size, and what could not be placed
 *   normally (unknown upstream names, cycles).
 */
export function layoutDag(tasks: Pick<ITask, 'name' | 'upstream'>[]): ILayout {
  const names = new Set(tasks.map(t => t.name));
  const upstreamOf = new Map<string, string[]>();
  const missing = new Set<string>();
  const edges: IEdge[] = [];
  for (const task of tasks) {
    const ups: string[] = [];
    for (const up of task.upstream ?? []) {
      if (names.has(up)) {
        if (!ups.includes(up)) {
          ups.push(up);
          edges.push({ from: up, to: task.name, d: '', detour: false });
        }
      } else {
        missing.add(up);
      }
    }
    upstreamOf.set(task.name, ups);
  }

  // longest-path layering by iterative DFS; a back edge means a cycle
  const layer = new Map<string, number>();
  const cyclic = new Set<string>();
  const visiting = new Set<string>();
  const depthOf = (start: string): number => {
    const stack: { name: string; next: number }[] = [{ name: start, next: 0 }];
    visiting.add(start);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      const ups = upstreamOf.get(frame.name) ?? [];
      if (frame.next < ups.length) {
        const up = ups[frame.next++];
        if (layer.has(up)) {
          continue;
        }
        if (visiting.has(up)) {
          cyclic.add(up);
          cyclic.add(frame.name);
          continue;
        }
        visiting.add(up);
        stack.push({ name: up, next: 0 });
        continue;
      }
      let depth = 0;
      for (const up of ups) {
        const upLayer = layer.get(up);
        if (upLayer !== undefined) {
          depth = Math.max(depth, upLayer + 1);
        }
      }
      layer.set(frame.name, depth);
      visiting.delete(frame.name);
      stack.pop();
    }
    return layer.get(start)!;
  };
  for (const task of tasks) {
    if (!layer.has(task.name)) {
      depthOf(task.name);
    }
  }
  let maxLayer = 0;
  layer.forEach(value => (maxLayer = Math.max(maxLayer, value)));
  if (cyclic.size > 0) {
    maxLayer += 1;
    cyclic.forEach(name => layer.set(name, maxLayer));
  }

  // rows in first-seen order, then one barycentre pass top-down
  const rows: string[][] = Array.from({ length: maxLayer + 1 }, () => []);
  for (const task of tasks) {
    const row = rows[layer.get(task.name)!];
    if (!row.includes(task.name)) {
      row.push(task.name);
    }
  }
  const orderOf = new Map<string, number>();
  rows[0].forEach((name, i) => orderOf.set(name, i));
  for (let r = 1; r < rows.length; r++) {
    const keyed = rows[r].map((name, i) => {
      const ups = (upstreamOf.get(name) ?? []).filter(up => orderOf.has(up));
      const key =
        ups.length > 0 ? ups.reduce((sum, up) => sum + orderOf.get(up)!, 0) / ups.length : i;
      return { name, key, i };
    });
    keyed.sort((a, b) => a.key - b.key || a.i - b.i);
    rows[r] = keyed.map(k => k.name);
    rows[r].forEach((name, i) => orderOf.set(name, i));
  }

  const { nodeWidth, nodeHeight, gapX, gapY, margin } = GEOMETRY;
  const widest = Math.max(1, ...rows.map(row => row.length));
  const width = margin * 2 + widest * nodeWidth + (widest - 1) * gapX;
  const nodes = new Map<string, INodePosition>();
  rows.forEach((row, r) => {
    const rowWidth = row.length * nodeWidth + Math.max(0, row.length - 1) * gapX;
    const left = (width - rowWidth) / 2;
    row.forEach((name, i) => {
      nodes.set(name, {
        name,
        layer: r,
        order: i,
        x: left + i * (nodeWidth + gapX),
        y: margin + r * (nodeHeight + gapY)
      });
    });
  });
  const height = margin * 2 + rows.length * nodeHeight + (rows.length - 1) * gapY;
  const right = routeEdges(edges, nodes, rows);
  return {
    nodes,
    edges,
    width: Math.max(width, right + margin),
    height,
    missing: [...missing].sort(),
    cyclic: [...cyclic].sort()
  };
}

/**
 * Give each edge its path. An edge between adjacent layers is one S-curve; a longer one is too
 * when no task box lies on its way, else it detours through a lane right of the tasks it
 * passes (one lane per such edge, so that they stay apart).
 *
 * Returns:
 *   The rightmost x any path reaches.
 */
function routeEdges(edges: IEdge[], nodes: Map<string, INodePosition>, rows: string[][]): number {
  const { nodeWidth, nodeHeight, gapX, gapY } = GEOMETRY;
  let right = 0;
  let lanes = 0;
  for (const edge of edges) {
    const a = nodes.get(edge.from)!;
    const b = nodes.get(edge.to)!;
    const x1 = a.x + nodeWidth / 2;
    const y1 = a.y + nodeHeight;
    const x2 = b.x + nodeWidth / 2;
    const y2 = b.y;
    const between = rows.slice(Math.min(a.layer, b.layer) + 1, Math.max(a.layer, b.layer));
    const blocked = between.some(row =>
      row.some(name => {
        const n = nodes.get(name)!;
        // x of the straight line at the middle of that row, against the box (with a margin)
        const t = (n.y + nodeHeight / 2 - y1) / (y2 - y1 || 1);
        const x = x1 + t * (x2 - x1);
        return x > n.x - 6 && x < n.x + nodeWidth + 6;
      })
    );
    if (!blocked) {
      const mid = (y1 + y2) / 2;
      edge.d = `M ${x1} ${y1} C ${x1} ${mid}, ${x2} ${mid}, ${x2} ${y2 - 2}`;
      right = Math.max(right, x1, x2);
      continue;
    }
    const passed = between.flat().map(name => nodes.get(name)!.x + nodeWidth);
    const lane = Math.max(x1, x2, ...passed) + gapX / 2 + 8 * lanes++;
    const top = y1 + gapY / 2;
    const bottom = y2 - gapY / 2;
    edge.d =
      `M ${x1} ${y1} C ${x1} ${top}, ${lane} ${y1}, ${lane} ${top + 8} ` +
      `L ${lane} ${bottom - 8} C ${lane} ${y2}, ${x2} ${bottom}, ${x2} ${y2 - 2}`;
    edge.detour = true;
    right = Math.max(right, lane);
  }
  return right;
}

/**
 * The ELK graph of a pipeline (the lineage graph's layout, flowing down): one child per task
 * at the node size, one edge per known upstream link (unknown names are left out, as in
 * {@link layoutDag}).
 */
export function dagGraphInput(tasks: Pick<ITask, 'name' | 'upstream'>[]): ElkNode {
  const names = new Set(tasks.map(t => t.name));
  const edges: ElkExtendedEdge[] = [];
  const seen = new Set<string>();
  for (const task of tasks) {
    for (const up of task.upstream ?? []) {
      const key = `${up}\u0000${task.name}`;
      if (names.has(up) && !seen.has(key)) {
        seen.add(key);
        edges.push({ id: `e${edges.length}`, sources: [up], targets: [task.name] });
      }
    }
  }
  return {
    id: 'pipeline',
    layoutOptions: layeredOptions('DOWN'),
    children: [...names].map(id => ({ id, width: GEOMETRY.nodeWidth, height: GEOMETRY.nodeHeight })),
    edges
  };
}

/**
 * ELK's layout of the pipeline as an {@link ILayout}: positions and edge routes from ELK,
 * layers and orders read from the positions, unknown upstream names and cycles reported as
 * {@link layoutDag} reports them.
 */
export async function layoutDagElk(tasks: Pick<ITask, 'name' | 'upstream'>[]): Promise<ILayout> {
  const laid = await elkLayout(dagGraphInput(tasks));
  const plain = layoutDag(tasks);
  const children = laid.children ?? [];
  const rows = [...new Set(children.map(c => Math.round(c.y ?? 0)))].sort((a, b) => a - b);
  const nodes = new Map<string, INodePosition>();
  for (const child of children) {
    const layer = rows.indexOf(Math.round(child.y ?? 0));
    const order = children.filter(
      c => Math.round(c.y ?? 0) === Math.round(child.y ?? 0) && (c.x ?? 0) < (child.x ?? 0)
    ).length;
    nodes.set(child.id, { name: child.id, layer, order, x: child.x ?? 0, y: child.y ?? 0 });
  }
  const edges: IEdge[] = ((laid.edges ?? []) as ElkExtendedEdge[]).map(edge => ({
    from: edge.sources[0],
    to: edge.targets[0],
    d: (edge.sections ?? []).map(sectionPath).join(' '),
    detour: (edge.sections ?? []).some(section => (section.bendPoints ?? []).length > 0)
  }));
  return {
    nodes,
    edges,
    width: Math.ceil(laid.width ?? plain.width),
    height: Math.ceil(laid.height ?? plain.height),
    missing: plain.missing,
    cyclic: plain.cyclic
  };
}

/** ELK layouts already computed, by the pipeline's shape (names and upstream links). */
const elkLayouts = new Map<string, ILayout>();

function shapeKey(tasks: Pick<ITask, 'name' | 'upstream'>[]): string {
  return JSON.stringify(tasks.map(t => [t.name, t.upstream ?? []]));
}

/**
 * Draw the pipeline into `container` with ELK's layout: at once when this shape was laid out
 * before; otherwise the quick layered drawing first, replaced by ELK's when it is ready (and
 * the container still shows this drawing). The `<svg>` says which in `data-layout`.
 *
 * Returns:
 *   A promise settled once ELK's drawing is in place (or could not be made: the quick one stays).
 */
export function drawDag(container: HTMLElement, tasks: ITask[], options: IRenderOptions = {}): Promise<void> {
  const key = shapeKey(tasks);
  const cached = elkLayouts.get(key);
  const first = renderDag(tasks, options, cached);
  container.replaceChildren(first);
  if (cached) {
    return Promise.resolve();
  }
  return layoutDagElk(tasks).then(
    layout => {
      elkLayouts.set(key, layout);
      if (first.parentNode === container) {
        container.replaceChildren(renderDag(tasks, options, layout));
      }
    },
    error => console.warn(`jupyterlab-nbgov: ELK could not lay out the pipeline: ${error}`)
  );
}

/** Options of renderDag. */
export interface IRenderOptions {
  /** Name of the task whose notebook is open, drawn highlighted. */
  current?: string | null;
  /** Called when a task is clicked or activated with the keyboard. */
  onOpen?: (task: ITask) => void;
}

/** Characters of a task name (13px, bold) and of a state line (12px) that fit a node box. */
export const NAME_CHARS = 19;
export const SUB_CHARS = 25;

/** Shorten a label to fit a node box; the full text goes in the node's <title>. */
export function ellipsize(text: string, max = 20): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

/**
 * Draw the pipeline into a new <svg> element.
 *
 * Every task becomes a `<g class="nbgov-dag-node">` with `data-task` set to its name, a box
 * coloured by review status, a dot coloured by build state, its name and "state · review"
 * as text nodes, and a <title> with the source, products and last run metrics. A task whose
 * last run is not yet in the tracking store gets `data-synced="false"` and a dashed box.
 */
export function renderDag(tasks: ITask[], options: IRenderOptions = {}, laid?: ILayout): SVGSVGElement {
  const layout = laid ?? layoutDag(tasks);
  const { nodeWidth, nodeHeight } = GEOMETRY;
  // drawn at its own size (text at the theme's size): a narrow sidebar scrolls it, or opens
  // it in the main area, rather than shrinking the text until it cannot be read
  const root = svg('svg', {
    class: 'nbgov-dag',
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    role: 'img'
  });
  root.dataset.layout = laid ? 'elk' : 'layered';
  const label = svg('title');
  label.textContent = `pipeline DAG, ${tasks.length} tasks`;
  root.appendChild(label);

  root.appendChild(arrowDefs('nbgov-arrow'));

  const edgeGroup = svg('g', { class: 'nbgov-dag-edges' });
  for (const edge of layout.edges) {
    const path = svg('path', {
      class: 'nbgov-dag-edge',
      d: edge.d,
      'marker-end': 'url(#nbgov-arrow)'
    });
    path.dataset.from = edge.from;
    path.dataset.to = edge.to;
    edgeGroup.appendChild(path);
  }
  root.appendChild(edgeGroup);

  const byName = new Map(tasks.map(t => [t.name, t]));
  const nodeGroup = svg('g', { class: 'nbgov-dag-nodes' });
  layout.nodes.forEach(pos => {
    const task = byName.get(pos.name)!;
    const status = task.review?.status ?? 'unreviewed';
    const g = svg('g', {
      class: `nbgov-dag-node ${reviewClass(status)} ${buildClass(task.state)}`,
      transform: `translate(${pos.x}, ${pos.y})`,
      tabindex: 0,
      role: 'button'
    });
    g.dataset.task = task.name;
    g.dataset.state = task.state;
    g.dataset.review = status;
    if (options.current && options.current === task.name) {
      g.classList.add('nbgov-current');
    }
    const unsynced = isUnsynced(task.last_run);
    if (unsynced) {
      // drawn with a dashed box; the title says why
      g.classList.add('nbgov-unsynced');
      g.dataset.synced = 'false';
    }
    const title = svg('title');
    const metrics = metricsSummary(task.last_run);
    title.textContent = [
      `${task.name} (${task.source})`,
      `build: ${buildLabel(task.state)}; review: ${reviewLabel(status)}`,
      metrics ? `last run: ${metrics}` : 'last run: none',
      ...(unsynced ? ['last run not synced: kept locally, `nbgov sync` sends it'] : []),
      ...Object.entries(task.products ?? {}).map(([key, path]) => `product ${key}: ${path}`)
    ].join('\n');
    g.appendChild(title);
    g.appendChild(svg('rect', { class: 'nbgov-dag-box', width: nodeWidth, height: nodeHeight, rx: 6 }));
    g.appendChild(svg('circle', { class: 'nbgov-dag-dot', cx: 12, cy: 16, r: 5 }));
    const name = svg('text', { class: 'nbgov-dag-name', x: 22, y: 20 });
    name.textContent = ellipsize(task.name, NAME_CHARS);
    g.appendChild(name);
    // build state and review on lines of their own: "outdated · changes requested" on one
    // line overflowed the box
    const build = svg('text', { class: 'nbgov-dag-sub nbgov-dag-build', x: 10, y: 38 });
    build.textContent = ellipsize(`build: ${buildLabel(task.state)}`, SUB_CHARS);
    g.appendChild(build);
    const review = svg('text', { class: 'nbgov-dag-sub nbgov-dag-review', x: 10, y: 53 });
    review.textContent = ellipsize(`review: ${reviewLabel(status)}`, SUB_CHARS);
    g.appendChild(review);
    if (options.onOpen) {
      const open = options.onOpen;
      g.addEventListener('click', () => open(task));
      g.addEventListener('keydown', event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          open(task);
        }
      });
    }
    nodeGroup.appendChild(g);
  });
  root.appendChild(nodeGroup);
  return root;
}
