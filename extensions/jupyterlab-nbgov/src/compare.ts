/**
 * Two runs of a task compared in a main-area tab: params and metrics side by side (changed
 * rows marked, numeric differences given), then the two executed notebooks in nbdime's diff.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Panel, Widget } from '@lumino/widgets';

import { IDiffOptions, makeNotebookDiff } from './diff';
import { el } from './dom';
import { compareRows, ICompareRow, runLink } from './runs';
import { formatMetric, formatTime } from './status';
import { IComparePayload, IRun } from './tokens';

function runTitle(run: IRun): string {
  const id = run.run_id ? run.run_id.slice(0, 8) : 'local run';
  return `${id} (${formatTime(run.started)})`;
}

/** A side-by-side table of params or metrics (text only). */
export function compareTable(title: string, rows: ICompareRow[], a: IRun, b: IRun): HTMLElement {
  const section = el('section', 'nbgov-compare-section');
  const changed = rows.filter(r => r.changed).length;
  section.appendChild(el('h3', 'nbgov-compare-title', `${title}: ${changed} of ${rows.length} differ`));
  const table = el('table', 'nbgov-compare-table');
  table.dataset.kind = title.toLowerCase();
  const head = el('tr', '');
  for (const text of ['', `a: ${runTitle(a)}`, `b: ${runTitle(b)}`, 'b − a']) {
    head.appendChild(el('th', '', text));
  }
  table.appendChild(el('thead', '')).appendChild(head);
  const body = el('tbody', '');
  for (const row of rows) {
    const tr = el('tr', row.changed ? 'nbgov-compare-row nbgov-changed' : 'nbgov-compare-row');
    tr.dataset.key = row.key;
    tr.dataset.changed = String(row.changed);
    tr.appendChild(el('th', 'nbgov-compare-key', row.key));
    tr.appendChild(el('td', 'nbgov-compare-a', row.a));
    tr.appendChild(el('td', 'nbgov-compare-b', row.b));
    const delta = row.delta === null ? (row.changed ? 'changed' : '') : (row.delta > 0 ? '+' : '') + formatMetric(row.delta);
    tr.appendChild(el('td', 'nbgov-compare-delta', delta));
    body.appendChild(tr);
  }
  table.appendChild(body);
  section.appendChild(table);
  return section;
}

/** The comparison tab; nbdime's widget is initialised before it is returned. */
export async function createCompareWidget(
  payload: IComparePayload,
  options: IDiffOptions
): Promise<MainAreaWidget<Panel>> {
  const content = new Panel();
  content.addClass('nbgov-compare');
  const top = new Widget();
  top.node.appendChild(
    el('div', 'nbgov-runs-header', `${payload.task}: run a ${runTitle(payload.a)} → run b ${runTitle(payload.b)}`)
  );
  const links = el('div', 'nbgov-compare-links');
  links.append('a: ', runLink(payload.a), ' · b: ', runLink(payload.b));
  top.node.appendChild(links);
  top.node.appendChild(compareTable('Parameters', compareRows(payload.a.params, payload.b.params), payload.a, payload.b));
  top.node.appendChild(compareTable('Metrics', compareRows(payload.a.metrics, payload.b.metrics), payload.a, payload.b));
  top.node.appendChild(el('h3', 'nbgov-compare-title', 'Executed notebooks (a → b)'));
  content.addWidget(top);
  if (payload.notebooks) {
    const diff = makeNotebookDiff(payload.notebooks.base, payload.notebooks.diff, options);
    diff.addClass('jp-Notebook-diff');
    content.addWidget(diff);
    await diff.init();
  } else {
    const note = new Widget();
    note.node.appendChild(el('div', 'nbgov-panel-message', payload.notebooks_note ?? 'no notebooks to compare'));
    content.addWidget(note);
  }
  const widget = new MainAreaWidget({ content });
  widget.id = `nbgov-compare-${Date.now()}`;
  widget.title.label = `Compare ${payload.task} runs`;
  widget.title.closable = true;
  return widget;
}
