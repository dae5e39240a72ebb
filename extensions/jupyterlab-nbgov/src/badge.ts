/**
 * The review badge in each notebook's toolbar: status with colour, details on hover, "not
 * synced" while the task's last run is kept in the local journal only; refreshed on save and
 * whenever a decision is recorded (or the Pipeline panel refreshes).
 */
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

import { NbgovHub, serverPath } from './hub';
import { reviewClass, reviewLabel, reviewTooltip, signatureLabel, UNSYNCED_RUN_TITLE } from './status';
import { IReviewState, NbgovAPIError } from './tokens';

const STATUS_CLASSES = /^nbgov-review-/;

/** A toolbar item showing the review status of one notebook. */
export class ReviewBadge extends Widget {
  constructor(
    private readonly hub: NbgovHub,
    private readonly context: DocumentRegistry.IContext<INotebookModel>
  ) {
    super({ node: document.createElement('div') });
    this.addClass('nbgov-badge');
    this._label = document.createElement('span');
    this._label.className = 'nbgov-badge-label';
    this.node.appendChild(this._label);
    this._signature = document.createElement('span');
    this._signature.className = 'nbgov-badge-signature';
    this.node.appendChild(this._signature);
    this._sync = document.createElement('span');
    this._sync.className = 'nbgov-badge-sync';
    this.node.appendChild(this._sync);
    this.node.setAttribute('role', 'status');
    this.show_('nbgov: …', 'nbgov-review-loading', 'loading the review status');

    context.saveState.connect(this._onSaveState, this);
    context.pathChanged.connect(() => void this.refresh(), this);
    hub.changed.connect(this._onHubChanged, this);
    void context.ready.then(() => this.refresh());
  }

  /** The notebook's server-relative path. */
  get path(): string {
    return serverPath(this.context.path);
  }

  /** The state last shown, if the server answered. */
  get state(): IReviewState | null {
    return this._state;
  }

  /** Fetch the review status again and repaint. */
  async refresh(): Promise<void> {
    const path = this.path;
    const ticket = ++this._ticket;
    try {
      await this.hub.client.info();
      const state = await this.hub.client.review(path);
      if (ticket === this._ticket && !this.isDisposed) {
        this.hub.states.set(state.path, state);
        this.paint(state);
      }
    } catch (error) {
      if (ticket !== this._ticket || this.isDisposed) {
        return;
      }
      this._state = null;
      if (error instanceof NbgovAPIError && error.missingServer) {
        this.show_('nbgov: not installed', 'nbgov-review-missing', error.message);
      } else {
        const text = error instanceof NbgovAPIError ? error.describe() : String(error);
        this.show_('nbgov: n/a', 'nbgov-review-error', text);
      }
    }
  }

  /** Show a review state. */
  paint(state: IReviewState): void {
    this._state = state;
    this.show_(reviewLabel(state.status), reviewClass(state.status), reviewTooltip(state));
    this.node.dataset.status = state.status;
    const signature = signatureLabel(state.last, state.signing);
    // text only: the label comes from a fixed table, the state from the server
    this._signature.textContent = signature ? ` · ${signature}` : '';
    if (signature) {
      this.node.dataset.signed = String(state.last?.signature === 'valid');
    }
    // only an explicit false: an older server, or a task never run, makes no claim
    if (state.last_run_synced === false) {
      this._sync.textContent = ' · not synced';
      this.node.dataset.synced = 'false';
      this.node.title += `\nlast run: ${UNSYNCED_RUN_TITLE}`;
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.hub.changed.disconnect(this._onHubChanged, this);
    super.dispose();
  }

  private show_(text: string, statusClass: string, tooltip: string): void {
    for (const name of Array.from(this.node.classList)) {
      if (STATUS_CLASSES.test(name)) {
        this.node.classList.remove(name);
      }
    }
    this.node.classList.add(statusClass);
    delete this.node.dataset.status;
    delete this.node.dataset.signed;
    delete this.node.dataset.synced;
    this._signature.textContent = '';
    this._sync.textContent = '';
    this._label.textContent = text; // user-controlled text goes in as text, never as HTML
    this.node.title = tooltip;
  }

  private _onSaveState(_: unknown, state: DocumentRegistry.SaveState): void {
    if (state === 'completed') {
      // a save may change the version: this badge, other views of the file and the panel
      this.hub.notify(this.path);
    }
  }

  private _onHubChanged(_: NbgovHub, path: string | null): void {
    if (path === null) {
      void this.refresh();
    } else if (path === this.path) {
      const state = this.hub.states.get(path);
      if (state) {
        this._ticket++; // a fresher answer than any request in flight
        this.paint(state);
      } else {
        void this.refresh();
      }
    }
  }

  private _label: HTMLSpanElement;
  private _signature: HTMLSpanElement;
  private _sync: HTMLSpanElement;
  private _state: IReviewState | null = null;
  private _ticket = 0;
}

/** Adds a ReviewBadge to every notebook panel's toolbar. */
export class ReviewBadgeExtension
  implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel>
{
  constructor(private readonly hub: NbgovHub) {}

  createNew(
    panel: NotebookPanel,
    context: DocumentRegistry.IContext<INotebookModel>
  ): IDisposable {
    const badge = new ReviewBadge(this.hub, context);
    panel.toolbar.insertItem(10, 'nbgovReview', badge);
    return badge;
  }
}
