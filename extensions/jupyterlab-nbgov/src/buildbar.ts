/**
 * Builds from the Pipeline panel: start the pipeline, a task, or a task and everything
 * downstream (the server runs the real `nbgov build`), follow its progress, read a failing
 * task's error and the log, cancel. Polls `GET nbgov/api/build` while a build runs.
 */
import { NbgovClient } from './request';
import { IBuildJob, NbgovAPIError } from './tokens';
import { el } from './dom';

const STATE_LABELS: { [state: string]: string } = {
  running: 'Building',
  succeeded: 'Build succeeded',
  failed: 'Build failed',
  cancelled: 'Build cancelled',
  refused: 'Build refused'
};

/** "Building load, train+: load ran, train running" (text for the status line). */
export function describeJob(job: IBuildJob): string {
  const what = job.tasks.length ? job.tasks.join(', ') + (job.downstream ? ' and downstream' : '') : 'the pipeline';
  const label = Object.prototype.hasOwnProperty.call(STATE_LABELS, job.state) ? STATE_LABELS[job.state] : job.state;
  const steps = Object.entries(job.progress ?? {}).map(([task, state]) => `${task} ${state}`);
  const tail = job.message && job.state !== 'running' && job.state !== 'succeeded' ? ` — ${job.message}` : '';
  return `${label}: ${what}${steps.length ? ` (${steps.join(', ')})` : ''}${tail}`;
}

/** The build controls and status of the panel. */
export class BuildBar {
  /** Where the bar is drawn. */
  readonly node: HTMLDivElement;

  constructor(
    private readonly client: NbgovClient,
    /** Called when a build ends (the panel refreshes its states). */
    private readonly onEnd: () => void,
    /** Milliseconds between two status requests while a build runs. */
    private readonly every = 1000
  ) {
    this.node = el('div', 'nbgov-build');
    const buttons = el('div', 'nbgov-build-buttons');
    this._start = el('button', 'jp-Button nbgov-build-all', 'Build pipeline');
    this._start.title = 'Run `nbgov build` on the server (what is outdated)';
    this._start.addEventListener('click', () => void this.start([], false));
    this._cancel = el('button', 'jp-Button nbgov-build-cancel', 'Cancel');
    this._cancel.title = 'Stop the build (SIGINT, then SIGTERM)';
    this._cancel.hidden = true;
    this._cancel.addEventListener('click', () => void this.cancel());
    buttons.append(this._start, this._cancel);
    this._status = el('div', 'nbgov-build-status');
    this._status.setAttribute('role', 'status');
    this._failures = el('ul', 'nbgov-build-failures');
    this._log = el('details', 'nbgov-build-log');
    this._log.appendChild(el('summary', '', 'Log'));
    this._logText = el('pre', 'nbgov-build-logtext');
    this._log.appendChild(this._logText);
    this._log.hidden = true;
    this.node.append(buttons, this._status, this._failures, this._log);
  }

  /** The job last shown. */
  get job(): IBuildJob | null {
    return this._job;
  }

  /** Start a build; the server's refusal (one at a time, bad task) is shown as text. */
  async start(tasks: string[], downstream: boolean): Promise<void> {
    try {
      this.show(await this.client.build(tasks, downstream));
      void this._poll();
    } catch (error) {
      this._error(error);
    }
  }

  /** Cancel the running build. */
  async cancel(): Promise<void> {
    this._cancel.disabled = true;
    try {
      this.show(await this.client.cancelBuild());
    } catch (error) {
      this._error(error);
    } finally {
      this._cancel.disabled = false;
    }
  }

  /** Draw a job's state (text only). */
  show(job: IBuildJob): void {
    const was = this._job?.state;
    this._job = job;
    this.node.dataset.state = job.state;
    this._status.textContent = describeJob(job);
    this._status.classList.toggle('nbgov-error', job.state === 'failed' || job.state === 'refused');
    const running = job.state === 'running';
    this._cancel.hidden = !running;
    this._start.disabled = running;
    this._failures.replaceChildren(
      ...(job.failures ?? []).map(f => el('li', 'nbgov-build-failure', `${f.task}: ${f.error ?? 'failed'}`))
    );
    this._logText.textContent = job.log ?? '';
    this._log.hidden = !job.log;
    if (was === 'running' && !running) {
      this.onEnd();
    }
  }

  private async _poll(): Promise<void> {
    while (this._job && this._job.state === 'running') {
      await new Promise(resolve => setTimeout(resolve, this.every));
      try {
        this.show(await this.client.buildStatus());
      } catch (error) {
        this._error(error);
        return;
      }
    }
  }

  private _error(error: unknown): void {
    this._status.textContent = error instanceof NbgovAPIError ? error.describe() : String(error);
    this._status.classList.add('nbgov-error');
  }

  private _start: HTMLButtonElement;
  private _cancel: HTMLButtonElement;
  private _status: HTMLDivElement;
  private _failures: HTMLUListElement;
  private _log: HTMLDetailsElement;
  private _logText: HTMLPreElement;
  private _job: IBuildJob | null = null;
}
