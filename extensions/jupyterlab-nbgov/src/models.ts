/**
 * The Models view (a main-area tab): the project's registered models, their versions and
 * aliases (which one is `champion`), the promotion gate's verdict on each version (the server
 * asks the same function as `nbgov promote --dry-run`), the last monitor result, and a Promote
 * action that goes through that gate on the server (a refusal shows every reason, as text).
 * Every value from the server goes in with textContent.
 */
import { Widget } from '@lumino/widgets';

import { formatTime } from './status';
import { NbgovAPIError } from './tokens';
import { el } from './dom';

/** The gate's verdict on moving the view's alias to one version. */
export interface IGate {
  accepted: boolean;
  reasons: string[];
  checks: string[];
  origin?: string | null;
  error?: string | null;
}

/** One registered version. */
export interface IModelVersion {
  version: string;
  uri: string;
  run_id: string | null;
  aliases: string[];
  /** null: an older version, not judged. */
  gate: IGate | null;
  monitor: { status: string; run_id?: string | null } | null;
}

/** One registered model of the project. */
export interface IModel {
  name: string;
  /** alias -> version */
  aliases: { [alias: string]: string };
  versions: IModelVersion[];
}

/** `GET nbgov/api/models` */
export interface IModelsPayload {
  experiment: string;
  /** The alias the gates were judged for (`champion` by default). */
  alias: string;
  /** `[promote] aliases` (null: any). */
  aliases: string[] | null;
  models: IModel[];
  promotions: { model: string; alias: string; version: string; by: string; at: string }[];
  monitor: {
    status: string;
    batch?: string;
    run_id?: string | null;
    reasons?: string[];
    at?: string | null;
    model?: string | null;
  } | null;
}

/** `POST nbgov/api/models/promote` accepted (the plan of `nbgov promote --json`). */
export interface IPromotionPlan {
  model: string;
  version: string;
  alias: string;
  previous: string | null;
  accepted: boolean;
  done: boolean;
  reasons: string[];
  checks: string[];
}

/** How a version's gate reads in the view. */
export interface IGateSummary {
  state: 'passes' | 'refused' | 'unjudged' | 'error';
  text: string;
}

/** The one-line verdict of a version's gate for `alias`. */
export function gateSummary(gate: IGate | null, alias: string): IGateSummary {
  if (gate === null) {
    return { state: 'unjudged', text: 'not judged (older version)' };
  }
  if (gate.error) {
    return { state: 'error', text: `gate could not judge: ${gate.error}` };
  }
  if (gate.accepted) {
    return { state: 'passes', text: `gate passes for ${alias}` };
  }
  const n = gate.reasons.length;
  return { state: 'refused', text: `gate refuses ${alias}: ${n} reason${n === 1 ? '' : 's'}` };
}

/** The aliases line of a model: `champion → v3, challenger → v4` (`no alias set` when none). */
export function aliasLine(model: IModel): string {
  const entries = Object.entries(model.aliases).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([a, v]) => `${a} → v${v}`).join(', ') : 'no alias set';
}

/** The last monitor verdict as one line, or null when there is none. */
export function monitorLine(monitor: IModelsPayload['monitor']): string | null {
  if (!monitor) {
    return null;
  }
  const batch = monitor.batch ? monitor.batch.split('/').pop() : 'a batch';
  const reasons = (monitor.reasons ?? []).length ? ` (${(monitor.reasons ?? []).join('; ')})` : '';
  return `last monitor: ${monitor.status} on ${batch}, ${formatTime(monitor.at ?? null)}${reasons}`;
}

/** What a promotion attempt came to, for the view's result area. */
export interface IPromotionOutcome {
  ok: boolean;
  title: string;
  lines: string[];
}

/** An accepted plan or a refusal (or any failure) as title and lines of text. */
export function promotionOutcome(uri: string, alias: string, result: IPromotionPlan | unknown): IPromotionOutcome {
  if (result instanceof NbgovAPIError) {
    const lines = result.reasons.length ? result.reasons : [];
    if (result.hint) {
      lines.push(`hint: ${result.hint}`);
    }
    return { ok: false, title: result.message, lines };
  }
  if (result instanceof Error) {
    return { ok: false, title: `promotion of ${uri} failed: ${result.message}`, lines: [] };
  }
  const plan = result as IPromotionPlan;
  const was = plan.previous === plan.version ? ' (already there)' : plan.previous ? ` (was v${plan.previous})` : '';
  return {
    ok: true,
    title: `alias ${alias} now points at ${uri}${was}`,
    lines: plan.checks.map(c => `ok: ${c}`)
  };
}

/** What the view needs from the application. */
export interface IModelsViewOptions {
  /** Fetch the payload again (after a promotion, or Refresh). */
  load: () => Promise<IModelsPayload>;
  /** Promote on the server; resolves with the plan, rejects with the refusal. */
  promote: (uri: string, alias: string) => Promise<IPromotionPlan>;
  /** Ask the user before promoting (a dialog); true to go on. */
  confirm?: (uri: string, alias: string) => Promise<boolean>;
}

/** The Models view: one section per model, one row per version. */
export class ModelsView extends Widget {
  constructor(private readonly options: IModelsViewOptions) {
    super();
    this.addClass('nbgov-models');
    this.node.tabIndex = -1;
    const bar = el('div', 'nbgov-models-bar');
    this._refresh = el('button', 'jp-Button nbgov-models-refresh', 'Refresh');
    this._refresh.addEventListener('click', () => void this.reload());
    bar.appendChild(this._refresh);
    this._result = el('div', 'nbgov-models-result');
    this._result.setAttribute('role', 'status');
    this._result.hidden = true;
    this._body = el('div', 'nbgov-models-body');
    this.node.append(bar, this._result, this._body);
  }

  /** The payload last drawn. */
  get payload(): IModelsPayload | null {
    return this._payload;
  }

  /** Fetch and draw; a failure is shown as text in place of the models. */
  async reload(): Promise<void> {
    this._refresh.disabled = true;
    try {
      this.render(await this.options.load());
    } catch (error) {
      this._body.replaceChildren(
        el('div', 'nbgov-models-error nbgov-error', error instanceof NbgovAPIError ? error.describe() : String(error))
      );
    } finally {
      this._refresh.disabled = false;
    }
  }

  /** Draw `payload`. */
  render(payload: IModelsPayload): void {
    this._payload = payload;
    const nodes: HTMLElement[] = [
      el('div', 'nbgov-models-header', `Registered models of experiment ${payload.experiment}`),
      el('div', 'nbgov-models-note', `Gate column: may the alias ${payload.alias} move to this version? (nbgov promote's gate)`)
    ];
    const monitor = monitorLine(payload.monitor);
    if (monitor) {
      const line = el('div', `nbgov-models-monitor nbgov-monitor-${payload.monitor?.status ?? ''}`, monitor);
      nodes.push(line);
    }
    if (payload.models.length === 0) {
      nodes.push(
        el('div', 'nbgov-models-empty', 'No registered model from this project yet (a task with a registered_model product registers one when the pipeline is built).')
      );
    }
    for (const model of payload.models) {
      nodes.push(this._model(model, payload.alias));
    }
    this._body.replaceChildren(...nodes);
  }

  private _model(model: IModel, alias: string): HTMLElement {
    const section = el('section', 'nbgov-model');
    section.dataset.model = model.name;
    section.appendChild(el('h3', 'nbgov-model-name', model.name));
    section.appendChild(el('div', 'nbgov-model-aliases', aliasLine(model)));
    const table = el('table', 'nbgov-models-table');
    const head = el('tr', '');
    for (const title of ['Version', 'Aliases', 'Gate', 'Monitor', '']) {
      head.appendChild(el('th', '', title));
    }
    table.appendChild(el('thead', '')).appendChild(head);
    const body = el('tbody', '');
    for (const version of model.versions) {
      body.appendChild(this._version(version, alias));
    }
    table.appendChild(body);
    section.appendChild(table);
    return section;
  }

  private _version(version: IModelVersion, alias: string): HTMLTableRowElement {
    const row = el('tr', 'nbgov-model-version');
    row.dataset.version = version.version;
    row.appendChild(el('td', 'nbgov-model-v', `v${version.version}`));
    const aliases = el('td', 'nbgov-model-version-aliases');
    for (const a of version.aliases) {
      aliases.appendChild(el('span', `nbgov-alias nbgov-alias-${a === 'champion' ? 'champion' : 'other'}`, a));
    }
    row.appendChild(aliases);

    const summary = gateSummary(version.gate, alias);
    const gate = el('td', `nbgov-model-gate nbgov-gate-${summary.state}`);
    gate.dataset.gate = summary.state;
    if (version.gate && (version.gate.reasons.length || version.gate.checks.length)) {
      const details = el('details', '');
      details.appendChild(el('summary', '', summary.text));
      const list = el('ul', 'nbgov-gate-reasons');
      version.gate.reasons.forEach(r => list.appendChild(el('li', 'nbgov-gate-no', r)));
      version.gate.checks.forEach(c => list.appendChild(el('li', 'nbgov-gate-ok', c)));
      details.appendChild(list);
      gate.appendChild(details);
    } else {
      gate.textContent = summary.text;
    }
    row.appendChild(gate);
    row.appendChild(el('td', 'nbgov-model-monitor', version.monitor ? version.monitor.status : '—'));

    const actions = el('td', '');
    const button = el('button', 'jp-Button nbgov-model-promote', `Promote to ${alias}`);
    button.title = `Move ${alias} to ${version.uri} through nbgov promote's gate`;
    if (version.aliases.includes(alias)) {
      button.disabled = true;
      button.title = `${alias} already points at this version`;
    }
    button.addEventListener('click', () => void this.promote(version.uri, alias));
    actions.appendChild(button);
    row.appendChild(actions);
    return row;
  }

  /** Promote `uri` to `alias` on the server and show what came of it (then redraw). */
  async promote(uri: string, alias: string): Promise<IPromotionOutcome | null> {
    if (this.options.confirm && !(await this.options.confirm(uri, alias))) {
      return null;
    }
    let outcome: IPromotionOutcome;
    try {
      outcome = promotionOutcome(uri, alias, await this.options.promote(uri, alias));
    } catch (error) {
      outcome = promotionOutcome(uri, alias, error);
    }
    this._show(outcome);
    if (outcome.ok) {
      await this.reload();
    }
    return outcome;
  }

  private _show(outcome: IPromotionOutcome): void {
    this._result.hidden = false;
    this._result.className = `nbgov-models-result ${outcome.ok ? 'nbgov-promote-ok' : 'nbgov-promote-refused nbgov-error'}`;
    const list = el('ul', 'nbgov-promote-reasons');
    outcome.lines.forEach(line => list.appendChild(el('li', '', line)));
    this._result.replaceChildren(el('div', 'nbgov-promote-title', outcome.title), list);
  }

  private _payload: IModelsPayload | null = null;
  private _refresh: HTMLButtonElement;
  private _result: HTMLDivElement;
  private _body: HTMLDivElement;
}
