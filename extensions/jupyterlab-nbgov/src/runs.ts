/**
 * A task's runs in a main-area tab (tracking store and local journal, each linked to the
 * MLflow UI), and two runs compared: params and metrics side by side with their differences.
 * The comparison's executed notebooks are drawn by compare.ts (nbdime). Text only: every
 * value the server sends goes in with textContent; links only to http(s) addresses.
 */
import { Widget } from '@lumino/widgets';

import { formatMetric, formatTime, metricsSummary, reviewLabel, shortVersion } from './status';
import { IMlflowUI, IRun, IRunsPayload } from './tokens';
import { el } from './dom';

/** One line of a side-by-side table. */
export interface ICompareRow {
  key: string;
  a: string;
  b: string;
  /** The values differ (one side missing counts as a difference). */
  changed: boolean;
  /** b - a when both are numbers and differ, else null. */
  delta: number | null;
}

function shown(value: unknown): string {
  if (value === undefined) {
    return '—';
  }
  if (typeof value === 'number') {
    return formatMetric(value);
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function asNumber(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value;
  }
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
    return Number(value);
  }
  return null;
}

/**
 * Params or metrics of two runs side by side, sorted by key: each key of either run once,
 * marked changed when the values differ (compared as shown: MLflow stores params as text).
 */
export function compareRows(
  a: { [key: string]: unknown },
  b: { [key: string]: unknown }
): ICompareRow[] {
  const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  const keys = Array.from(new Set([...Object.keys(a), ...Object.keys(b)])).sort();
  return keys.map(key => {
    const va = own(a, key) ? a[key] : undefined;
    const vb = own(b, key) ? b[key] : undefined;
    const sa = shown(va);
    const sb = shown(vb);
    const na = asNumber(va);
    const nb = asNumber(vb);
    const changed = va === undefined || vb === undefined ? va !== vb : na !== null && nb !== null ? na !== nb : sa !== sb;
    const delta = changed && na !== null && nb !== null ? Number((nb - na).toPrecision(6)) : null;
    return { key, a: sa, b: sb, changed, delta };
  });
}

/** `url` when it is an http(s) address, else null (no `javascript:` link from a server value). */
export function safeUrl(url: string | null | undefined): string | null {
  if (!url) {
    return null;
  }
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** The two runs to compare, older first (the diff reads "from a to b"). */
export function orderPair(runs: IRun[], ids: string[]): [string, string] | null {
  if (ids.length !== 2) {
    return null;
  }
  const [x, y] = ids.map(id => runs.find(r => r.id === id));
  if (!x || !y) {
    return null;
  }
  return (x.started ?? '') <= (y.started ?? '') ? [x.id, y.id] : [y.id, x.id];
}

/** A link to a run in the MLflow UI (opens a new tab), or '' text for a run not in the store. */
export function runLink(run: IRun): HTMLElement {
  const url = safeUrl(run.url);
  if (!url) {
    return el('span', 'nbgov-run-nolink', run.synced ? '' : 'not in the store yet');
  }
  const a = el('a', 'nbgov-run-link', 'MLflow');
  a.href = url;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  a.title = `open run ${run.run_id} in the MLflow UI`;
  return a;
}

/** How to open the MLflow UI: its address, or the command that serves the embedded store. */
export function uiNote(ui: IMlflowUI): HTMLElement {
  const note = el('div', 'nbgov-runs-ui');
  if (ui.command) {
    note.append('MLflow UI of the embedded store: run ');
    note.appendChild(el('code', 'nbgov-runs-command', ui.command));
    note.append(` in the project folder, then the links open ${ui.url ?? ''}`);
  } else if (ui.url) {
    note.append(`MLflow UI: ${ui.url}`);
  } else {
    note.append('No MLflow UI address: set [tracking] ui_url in nbgov.toml');
  }
  return note;
}

/** Options of RunsView. */
export interface IRunsViewOptions {
  /** Compare two runs (ids, older first). */
  onCompare: (a: string, b: string) => void;
}

/** The run history of one task: a table with two runs to pick for a comparison. */
export class RunsView extends Widget {
  constructor(
    readonly payload: IRunsPayload,
    options: IRunsViewOptions
  ) {
    super();
    this.addClass('nbgov-runs');
    this.node.dataset.task = payload.task;
    this.node.appendChild(el('div', 'nbgov-runs-header', `Runs of ${payload.task}`));
    this.node.appendChild(uiNote(payload.ui));
    if (payload.store_error) {
      this.node.appendChild(
        el('div', 'nbgov-panel-message nbgov-error', `Tracking store: ${payload.store_error}`)
      );
    }
    const bar = el('div', 'nbgov-runs-bar');
    this._compare = el('button', 'jp-Button nbgov-runs-compare', 'Compare the two selected runs');
    this._compare.disabled = true;
    this._compare.addEventListener('click', () => {
      const pair = orderPair(payload.runs, this._selected);
      if (pair) {
        options.onCompare(pair[0], pair[1]);
      }
    });
    bar.appendChild(this._compare);
    this.node.appendChild(bar);
    if (payload.runs.length === 0) {
      this.node.appendChild(el('div', 'nbgov-panel-message', 'No run of this task yet.'));
      return;
    }
    const table = el('table', 'nbgov-runs-table');
    const head = el('tr', '');
    for (const title of ['', 'started (UTC)', 'outcome', 'notebook', 'review', 'metrics', 'run']) {
      head.appendChild(el('th', '', title));
    }
    table.appendChild(el('thead', '')).appendChild(head);
    const body = el('tbody', '');
    for (const run of payload.runs) {
      body.appendChild(this._row(run));
    }
    table.appendChild(body);
    this.node.appendChild(table);
  }

  /** Ids of the runs picked (at most two, in the order picked). */
  get selected(): string[] {
    return [...this._selected];
  }

  private _row(run: IRun): HTMLTableRowElement {
    const row = el('tr', 'nbgov-run');
    row.dataset.run = run.id;
    row.dataset.synced = String(run.synced);
    const pick = el('input', 'nbgov-run-pick');
    pick.type = 'checkbox';
    pick.setAttribute('aria-label', `select run ${run.id} for a comparison`);
    pick.addEventListener('change', () => this._pick(run.id, pick.checked));
    row.appendChild(el('td', '')).appendChild(pick);
    row.appendChild(el('td', 'nbgov-run-started', formatTime(run.started)));
    const outcome = el('td', 'nbgov-run-outcome', run.outcome ?? '—');
    if (!run.synced) {
      const chip = el('span', 'nbgov-chip nbgov-unsynced', 'not synced');
      chip.title = 'kept in the local journal: `nbgov sync` sends it to the tracking store';
      outcome.append(' ', chip);
    }
    row.appendChild(outcome);
    row.appendChild(el('td', 'nbgov-run-version', shortVersion(run.notebook_version)));
    row.appendChild(el('td', 'nbgov-run-review', run.review_status ? reviewLabel(run.review_status) : '—'));
    row.appendChild(
      el('td', 'nbgov-run-metrics', metricsSummary({ metrics: run.metrics } as any) || '—')
    );
    row.appendChild(el('td', '')).appendChild(runLink(run));
    return row;
  }

  private _pick(id: string, on: boolean): void {
    this._selected = this._selected.filter(s => s !== id);
    if (on) {
      this._selected.push(id);
      if (this._selected.length > 2) {
        // a third pick replaces the first one
        const dropped = this._selected.shift()!;
        this.node.querySelectorAll<HTMLTableRowElement>('tr.nbgov-run').forEach(tr => {
          if (tr.dataset.run === dropped) {
            (tr.querySelector('.nbgov-run-pick') as HTMLInputElement).checked = false;
          }
        });
      }
    }
    this._compare.disabled = this._selected.length !== 2;
  }

  private _compare: HTMLButtonElement;
  private _selected: string[] = [];
}
