/**
 * Lineage of a task, product or model version ("which data and which reviewed code made
 * this?") in a main-area tab: the server's `GET nbgov/api/lineage?target=T` answer drawn as a
 * graph (lineagegraph.ts); a click or Enter on a run shows its params and metrics, and opens
 * the task's runs (each linked to the MLflow UI). The raw answer stays below, folded.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ILineageNode, ILineagePayload, layoutLineage, renderLineage } from './lineagegraph';
import { el } from './dom';
import { compareRows } from './runs';
import { formatTime, reviewLabel, shortVersion } from './status';
import { renderTree } from './tree';

/** Options of createLineageWidget. */
export interface ILineageOptions {
  /** Open the runs of a task (the run history links each run to the MLflow UI). */
  showRuns?: (task: string) => void;
}

function table(kind: string, values: { [key: string]: unknown }): HTMLElement {
  const rows = compareRows(values, values);
  const out = el('table', 'nbgov-lin-table');
  out.dataset.kind = kind;
  for (const row of rows) {
    const tr = el('tr', '');
    tr.dataset.key = row.key;
    tr.appendChild(el('th', '', row.key));
    tr.appendChild(el('td', '', row.a));
    out.appendChild(tr);
  }
  return out;
}

/** The details of one node: what ran, with which params, what it measured. */
export function nodeDetails(node: ILineageNode, options: ILineageOptions = {}): HTMLElement {
  const box = el('div', 'nbgov-lin-details');
  box.dataset.key = node.key;
  if (node.kind === 'model') {
    const model = node.model ?? {};
    box.appendChild(el('div', 'nbgov-runs-header', `model ${model.name ?? ''} version ${model.version ?? ''}`));
    box.appendChild(el('div', '', `aliases: ${(model.aliases ?? []).join(', ') || 'none'}`));
    box.appendChild(el('div', '', `registered by run ${node.run_id ?? '—'}`));
    return box;
  }
  box.appendChild(el('div', 'nbgov-runs-header', `${node.task ?? node.key}`));
  if (node.kind === 'missing') {
    box.appendChild(el('div', '', 'No lineage record of this run could be read.'));
    return box;
  }
  const review = node.notebook?.review_status;
  box.appendChild(
    el(
      'div',
      'nbgov-lin-facts',
      `${node.notebook?.path ?? ''} ${shortVersion(node.notebook?.version)} · review when it ran: ` +
        `${review ? reviewLabel(review) : '—'} · ${node.outcome ?? '—'} at ${formatTime(node.started)}`
    )
  );
  box.appendChild(
    el('div', 'nbgov-lin-run', node.run_id ? `run ${node.run_id}` : 'kept in the local journal (not synced)')
  );
  box.appendChild(el('h3', 'nbgov-compare-title', 'Metrics'));
  box.appendChild(table('metrics', node.metrics ?? {}));
  box.appendChild(el('h3', 'nbgov-compare-title', 'Parameters'));
  box.appendChild(table('params', node.params ?? {}));
  const task = node.task;
  if (task && options.showRuns) {
    const showRuns = options.showRuns;
    const button = el('button', 'jp-Button nbgov-lin-runs', `Runs of ${task} (MLflow links)`);
    button.addEventListener('click', () => showRuns(task));
    box.appendChild(button);
  }
  return box;
}

/** A main-area tab showing the lineage payload of one target; the graph is laid out async. */
export function createLineageWidget(
  target: string,
  payload: unknown,
  options: ILineageOptions = {}
): MainAreaWidget<Widget> {
  const content = new Widget();
  content.addClass('nbgov-lineage');
  const header = el('div', 'nbgov-lineage-header', `Lineage of ${target}`);
  const body = el('div', 'nbgov-lin-body');
  const graph = el('div', 'nbgov-lin-graph');
  const details = el('div', 'nbgov-lin-side');
  details.appendChild(el('div', 'nbgov-panel-message', 'Select a run for its params and metrics.'));
  body.append(graph, details);
  const raw = el('details', 'nbgov-lin-raw');
  raw.appendChild(el('summary', '', 'The lineage as data'));
  raw.appendChild(renderTree(payload, target));
  content.node.append(header, body, raw);
  const data = payload as ILineagePayload;
  if (data && typeof data === 'object' && data.nodes && data.target) {
    for (const warning of data.warnings ?? []) {
      header.after(el('div', 'nbgov-panel-message nbgov-error', warning));
    }
    layoutLineage(data)
      .then(layout => {
        graph.appendChild(
          renderLineage(layout, data, node => details.replaceChildren(nodeDetails(node, options)))
        );
        content.node.dataset.ready = 'true';
      })
      .catch(error => {
        graph.appendChild(el('div', 'nbgov-panel-message nbgov-error', `cannot lay out the graph: ${error}`));
        content.node.dataset.ready = 'error';
      });
  }
  const widget = new MainAreaWidget({ content });
  widget.id = `nbgov-lineage-${Date.now()}`;
  widget.title.label = `Lineage: ${target}`;
  widget.title.closable = true;
  return widget;
}
