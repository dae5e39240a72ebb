/**
 * The "Pipeline" side panel: the DAG drawn as a graph, the open notebook highlighted, each task
 * with build state, review status and last run metrics; clicking a task opens its notebook.
 */
import { Widget } from '@lumino/widgets';

import { BuildBar } from './buildbar';
import { drawDag } from './dag';
import { NbgovHub, serverPath } from './hub';
import {
  buildClass,
  buildLabel,
  formatDuration,
  isUnsynced,
  metricsSummary,
  pathNodes,
  reviewClass,
  reviewLabel,
  UNSYNCED_RUN_TITLE,
  unsyncedBanner
} from './status';
import { IPipeline, ITask, NbgovAPIError } from './tokens';
import { el } from './dom';

/** Options of the panel. */
export interface IPipelinePanelOptions {
  hub: NbgovHub;
  /** Open a notebook by its server-relative path. */
  open: (path: string) => void;
  /** The path of the notebook in focus, if any. */
  currentPath: () => string | null;
  /** Show the lineage of a task (offered when the server serves lineage). */
  showLineage?: (task: string) => void;
  /** Show a task's runs (and compare two) in the main area. */
  showRuns?: (task: string) => void;
  /** Open the DAG in the main area (wider than the sidebar). */
  openDag?: () => void;
  /** Open the Models view (registered models, aliases, promotion gate). */
  openModels?: () => void;
}

/** Normalise a task source for comparison with a document path. */
function sourceKey(source: string): string {
  return serverPath(source).replace(/^\.\//, '');
}

/**
 * `text` as nodes, the parts between backticks as <code> (commands such as `nbgov sync`);
 * text only, whatever it holds.
 */
export function withCode(text: string): Node[] {
  return text
    .split('`')
    .map((part, i) => (i % 2 === 1 ? el('code', '', part) : document.createTextNode(part)))
    .filter(node => node.textContent !== '' || node.nodeName === 'CODE');
}

/** The side panel widget. */
export class PipelinePanel extends Widget {
  constructor(private readonly options: IPipelinePanelOptions) {
    super();
    this.id = 'nbgov-pipeline';
    this.addClass('nbgov-panel');
    this.title.caption = 'nbgov pipeline';

    const header = el('div', 'nbgov-panel-header');
    header.appendChild(el('span', 'nbgov-panel-title', 'Pipeline'));
    const buttons = el('div', 'nbgov-panel-buttons');
    if (options.openDag) {
      const openDag = options.openDag;
      const wide = el('button', 'jp-Button nbgov-panel-open-dag', 'Open');
      wide.title = 'Open the pipeline graph in the main area';
      wide.addEventListener('click', () => openDag());
      buttons.appendChild(wide);
    }
    if (options.openModels) {
      const openModels = options.openModels;
      const models = el('button', 'jp-Button nbgov-panel-open-models', 'Models');
      models.title = "The project's registered models, their aliases and the promotion gate";
      models.addEventListener('click', () => openModels());
      buttons.appendChild(models);
    }
    this._refreshButton = el('button', 'jp-Button nbgov-panel-refresh', 'Refresh');
    this._refreshButton.title =
      'Re-plan the pipeline on the server (it runs `nbgov status`) and fetch its state again';
    this._refreshButton.addEventListener('click', () => void this.replan());
    buttons.appendChild(this._refreshButton);
    header.appendChild(buttons);
    this.node.appendChild(header);

    // builds from the panel: the server runs the real `nbgov build`
    this._builds = new BuildBar(options.hub.client, () => this.options.hub.notify(null));
    this.node.appendChild(this._builds.node);

    this._message = el('div', 'nbgov-panel-message');
    this._message.setAttribute('role', 'status');
    this.node.appendChild(this._message);
    // why the last re-plan failed (the pipeline does not load): kept until one succeeds
    this._replanError = el('div', 'nbgov-panel-message nbgov-error nbgov-panel-replan-error');
    this._replanError.hidden = true;
    this.node.appendChild(this._replanError);
    // runs the tracking store has not got (it was unreachable during a build): say so, loudly
    this._unsynced = el('div', 'nbgov-panel-unsynced');
    this._unsynced.hidden = true;
    this.node.appendChild(this._unsynced);
    this._hints = el('ul', 'nbgov-panel-hints');
    this.node.appendChild(this._hints);
    this._graph = el('div', 'nbgov-panel-graph');
    this.node.appendChild(this._graph);
    this._list = el('ul', 'nbgov-task-list');
    this.node.appendChild(this._list);

    // a hidden panel fetches nothing; showing it fetches (onAfterShow)
    options.hub.changed.connect(
      () => this.isVisible && !this._notifying && void this.refresh(),
      this
    );
  }

  /** The build controls (start, progress, cancel). */
  get builds(): BuildBar {
    return this._builds;
  }

  /** The pipeline last drawn, if any. */
  get pipeline(): IPipeline | null {
    return this._pipeline;
  }

  /**
   * What Refresh does: the server re-plans the pipeline (the real `nbgov status`, which
   * renders the DAG: a GET never does), then the panel and the badges fetch their state again.
   */
  async replan(): Promise<void> {
    if (this._refreshButton.disabled) {
      return;
    }
    this._refreshButton.disabled = true;
    this.node.dataset.replanning = 'true';
    this._showMessage('Re-planning the pipeline on the server…');
    try {
      const info = await this.options.hub.client.info();
      if (info.pipeline !== null) {
        await this.options.hub.client.replan();
      }
      this._replanError.hidden = true;
      this._replanError.textContent = '';
    } catch (error) {
      this._replanError.textContent =
        error instanceof NbgovAPIError ? error.describe() : String(error);
      this._replanError.hidden = false;
    } finally {
      this._refreshButton.disabled = false;
      delete this.node.dataset.replanning;
    }
    // the badges refresh on the hub's signal; this panel refreshes here, once, awaited
    this._notifying = true;
    try {
      this.options.hub.notify(null);
    } finally {
      this._notifying = false;
    }
    if (this.isVisible) {
      await this.refresh();
    }
  }

  /** Fetch the pipeline again and redraw. */
  async refresh(): Promise<void> {
    const ticket = ++this._ticket;
    this.node.dataset.loading = 'true';
    try {
      const info = await this.options.hub.client.info();
      if (info.pipeline === null) {
        this._pipeline = null;
        this._showMessage('No pipeline.yaml in this project: there is no DAG to draw.');
        this._showUnsynced(0);
        this._graph.replaceChildren();
        this._list.replaceChildren();
        return;
      }
      const pipeline = await this.options.hub.client.pipeline();
      if (ticket !== this._ticket) {
        return;
      }
      this._lineage = info.lineage === true;
      this._pipeline = pipeline;
      this._showMessage(`${pipeline.pipeline}: ${pipeline.tasks.length} tasks`, false);
      this._hints.replaceChildren(
        ...(pipeline.hints ?? []).map(hint => el('li', 'nbgov-panel-hint', hint))
      );
      this._showUnsynced(pipeline.unsynced);
      this.draw();
    } catch (error) {
      if (ticket !== this._ticket) {
        return;
      }
      this._pipeline = null;
      this._graph.replaceChildren();
      this._list.replaceChildren();
      this._hints.replaceChildren();
      this._showUnsynced(0);
      const text = error instanceof NbgovAPIError ? error.describe() : String(error);
      this._showMessage(text, true, error instanceof NbgovAPIError && error.missingServer);
    } finally {
      if (ticket === this._ticket) {
        delete this.node.dataset.loading;
      }
    }
  }

  /** Redraw from the last fetched pipeline (e.g. when another notebook gets the focus). */
  draw(): void {
    const pipeline = this._pipeline;
    if (!pipeline) {
      return;
    }
    const current = this.currentTask();
    const open = (task: ITask) => this.options.open(sourceKey(task.source));
    void drawDag(this._graph, pipeline.tasks, { current, onOpen: open });
    this._list.replaceChildren(...pipeline.tasks.map(task => this._row(task, current, open)));
  }

  /** Name of the task whose source is the notebook in focus. */
  currentTask(): string | null {
    const path = this.options.currentPath();
    if (!path || !this._pipeline) {
      return null;
    }
    const key = sourceKey(path);
    const task = this._pipeline.tasks.find(t => sourceKey(t.source) === key);
    return task ? task.name : null;
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  private _row(task: ITask, current: string | null, open: (task: ITask) => void): HTMLLIElement {
    const status = task.review?.status ?? 'unreviewed';
    const row = el('li', 'nbgov-task');
    row.dataset.task = task.name;
    if (task.name === current) {
      row.classList.add('nbgov-current');
    }
    const head = el('div', 'nbgov-task-head');
    const name = el('a', 'nbgov-task-name', task.name);
    name.href = '#';
    // a function task has no notebook: its link opens the module that defines the function
    name.title = task.function
      ? `open ${task.source} (defines ${task.function})`
      : `open ${task.source}`;
    name.addEventListener('click', event => {
      event.preventDefault();
      open(task);
    });
    head.appendChild(name);
    if (task.kind && task.kind !== 'notebook') {
      head.appendChild(el('span', 'nbgov-chip nbgov-kind', task.kind));
    }
    head.appendChild(el('span', `nbgov-chip ${buildClass(task.state)}`, buildLabel(task.state)));
    head.appendChild(el('span', `nbgov-chip ${reviewClass(status)}`, reviewLabel(status)));
    if (isUnsynced(task.last_run)) {
      const chip = el('span', 'nbgov-chip nbgov-unsynced', 'not synced');
      chip.title = UNSYNCED_RUN_TITLE;
      head.appendChild(chip);
      row.dataset.synced = 'false';
    }
    row.appendChild(head);
    const source = el('div', 'nbgov-task-source');
    const path = el('span', 'nbgov-task-path');
    path.append(...pathNodes(task.source)); // wraps between folders, not inside a name
    source.appendChild(path);
    if (task.function) {
      source.appendChild(el('span', 'nbgov-task-function', task.function));
    }
    const showLineage = this.options.showLineage;
    if (this._lineage && showLineage) {
      const button = el('button', 'nbgov-task-lineage', 'lineage');
      button.title = `which data and which reviewed code made ${task.name}`;
      button.addEventListener('click', () => showLineage(task.name));
      source.appendChild(button);
    }
    const build = el('button', 'nbgov-task-build', 'build');
    build.title = `build ${task.name} (nbgov build ${task.name})`;
    build.addEventListener('click', () => void this._builds.start([task.name], false));
    const downstream = el('button', 'nbgov-task-build-down', 'build+');
    downstream.title = `build ${task.name} and everything downstream of it`;
    downstream.addEventListener('click', () => void this._builds.start([task.name], true));
    source.append(build, downstream);
    const showRuns = this.options.showRuns;
    if (showRuns) {
      const button = el('button', 'nbgov-task-runs', 'runs');
      button.title = `${task.name}'s runs; compare two of them`;
      button.addEventListener('click', () => showRuns(task.name));
      source.appendChild(button);
    }
    row.appendChild(source);
    const run = task.last_run;
    const metrics = metricsSummary(run);
    const runText = run
      ? `last run: ${run.outcome}, ${formatDuration(run.duration_s)}${metrics ? ` — ${metrics}` : ''}`
      : 'last run: none';
    row.appendChild(el('div', 'nbgov-task-run', runText));
    return row;
  }

  /** Show or hide the banner about runs kept locally (`count` as the server sent it). */
  private _showUnsynced(count: unknown): void {
    const text = unsyncedBanner(count);
    this._unsynced.replaceChildren(...withCode(text));
    this._unsynced.hidden = text === '';
    this._unsynced.title = text
      ? 'A build could not reach the tracking store, so these runs are kept in .nbgov/journal ' +
        'of the project; `nbgov sync` (or the next `nbgov build`) sends them.'
      : '';
  }

  private _showMessage(text: string, isError = false, missing = false): void {
    this._message.textContent = text;
    this._message.classList.toggle('nbgov-error', isError);
    this._message.classList.toggle('nbgov-missing', missing);
  }

  private _graph: HTMLDivElement;
  private _refreshButton: HTMLButtonElement;
  private _builds: BuildBar;
  private _replanError: HTMLDivElement;
  private _list: HTMLUListElement;
  private _message: HTMLDivElement;
  private _unsynced: HTMLDivElement;
  private _hints: HTMLUListElement;
  private _pipeline: IPipeline | null = null;
  private _lineage = false;
  private _ticket = 0;
  private _notifying = false;
}
