/**
 * Cell comment threads in the notebook: a marker on each cell that has threads (open / all),
 * the threads beside the cell when the marker is clicked, with reply and resolve; a command
 * (cell context menu) that opens a thread on the active cell. Talks to `nbgov/api/threads`.
 *
 * Every text a user wrote (comments, names) goes into the page with `textContent`, never as
 * HTML.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';

import { NbgovHub, serverPath } from './hub';
import { requestAPI } from './request';
import { NbgovAPIError } from './tokens';
import { el } from './dom';

/** One comment of a thread, as the server sends it. */
export interface IThreadComment {
  author: string;
  at: string;
  text: string;
}

/** One thread (see docs/api.md, `threads`). */
export interface IThread {
  id: string;
  notebook: string;
  cell: string;
  author: string;
  resolved: boolean;
  resolved_by: string | null;
  outdated: boolean;
  comments: IThreadComment[];
}

export const COMMENT_CELL = 'nbgov:comment-cell';

/** The threads of one notebook. */
export function listThreads(path: string): Promise<{ path: string; threads: IThread[] }> {
  return requestAPI(`threads?path=${encodeURIComponent(path)}`);
}

/** Open a thread on a cell, reply to one or resolve one; the server names the author. */
export function postThread(body: {
  action: 'comment' | 'reply' | 'resolve';
  path: string;
  cell?: string;
  thread?: string;
  text?: string;
}): Promise<IThread> {
  return requestAPI('threads', { method: 'POST', body: JSON.stringify(body) });
}

/** The marker's label: `1 open / 2 threads`. */
export function markerText(open: number, all: number): string {
  return `${open} open / ${all} thread${all === 1 ? '' : 's'}`;
}

function describe(error: unknown): string {
  return error instanceof NbgovAPIError ? error.describe() : String(error);
}

/** The markers and thread views of one notebook panel. */
export class CellThreads implements IDisposable {
  constructor(
    private readonly panel: NotebookPanel,
    private readonly context: DocumentRegistry.IContext<INotebookModel>
  ) {
    context.saveState.connect(this._onSave, this);
    void context.ready.then(() => {
      this.panel.content.model?.cells.changed.connect(() => this.paint(), this);
      return this.refresh();
    });
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** The threads last fetched. */
  get threads(): IThread[] {
    return this._threads;
  }

  /** Fetch this notebook's threads again and repaint the markers. */
  async refresh(): Promise<void> {
    try {
      const reply = await listThreads(serverPath(this.context.path));
      this._threads = reply.threads;
    } catch (error) {
      this._threads = []; // no server extension, or not a project: no markers
      if (!(error instanceof NbgovAPIError && error.missingServer)) {
        console.warn(`jupyterlab-nbgov: threads: ${describe(error)}`);
      }
    }
    if (!this._disposed) {
      this.paint();
    }
  }

  /** Put a marker on each cell that has threads; keep open views open. */
  paint(): void {
    for (const cell of this.panel.content.widgets) {
      cell.node.querySelectorAll(':scope > .nbgov-thread-marker, :scope > .nbgov-thread-view').forEach(n => n.remove());
      const mine = this._threads.filter(t => t.cell === cell.model.id);
      if (mine.length === 0) {
        continue;
      }
      const open = mine.filter(t => !t.resolved).length;
      const marker = el('button', 'nbgov-thread-marker', markerText(open, mine.length));
      marker.title = `${open} open of ${mine.length} comment thread(s) on this cell: click to show`;
      marker.dataset.cell = cell.model.id;
      marker.dataset.open = String(open);
      marker.onclick = () => {
        this._shown.has(cell.model.id) ? this._shown.delete(cell.model.id) : this._shown.add(cell.model.id);
        this.paint();
      };
      cell.node.appendChild(marker); // below the cell, clear of its toolbar
      if (this._shown.has(cell.model.id)) {
        cell.node.appendChild(this._view(mine));
      }
    }
  }

  /** Show the threads of a cell (e.g. after opening one). */
  show(cellId: string): void {
    this._shown.add(cellId);
    this.paint();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.context.saveState.disconnect(this._onSave, this);
    for (const cell of this.panel.content.widgets) {
      cell.node.querySelectorAll('.nbgov-thread-marker, .nbgov-thread-view').forEach(n => n.remove());
    }
  }

  private _view(threads: IThread[]): HTMLElement {
    const view = el('div', 'nbgov-thread-view');
    for (const thread of threads) {
      const box = el('div', `nbgov-thread ${thread.resolved ? 'nbgov-thread-resolved' : 'nbgov-thread-open'}`);
      box.dataset.thread = thread.id;
      const state = thread.resolved ? `resolved by ${thread.resolved_by}` : 'open';
      box.appendChild(el('div', 'nbgov-thread-header', `thread ${thread.id.slice(0, 8)} · ${state}`));
      for (const c of thread.comments) {
        const line = el('div', 'nbgov-thread-comment');
        line.appendChild(el('span', 'nbgov-thread-author', c.author));
        line.appendChild(el('span', 'nbgov-thread-text', c.text));
        box.appendChild(line);
      }
      if (!thread.resolved) {
        const input = el('textarea', 'nbgov-thread-input');
        input.placeholder = 'Reply…';
        input.rows = 2;
        const reply = el('button', 'jp-Button nbgov-thread-reply', 'Reply');
        reply.onclick = () => void this._act({ action: 'reply', thread: thread.id, text: input.value });
        const resolve = el('button', 'jp-Button nbgov-thread-resolve', 'Resolve');
        resolve.onclick = () => void this._act({ action: 'resolve', thread: thread.id, text: input.value });
        box.append(input, reply, resolve);
      }
      view.appendChild(box);
    }
    return view;
  }

  private async _act(body: { action: 'reply' | 'resolve'; thread: string; text: string }): Promise<void> {
    try {
      await postThread({ ...body, path: serverPath(this.context.path) });
    } catch (error) {
      await showErrorMessage('nbgov: thread not updated', describe(error));
    }
    await this.refresh();
  }

  private _onSave(_: unknown, state: DocumentRegistry.SaveState): void {
    if (state === 'completed') {
      void this.refresh(); // a save may delete a cell: its thread is outdated now
    }
  }

  private _disposed = false;
  private _threads: IThread[] = [];
  private _shown = new Set<string>();
}

/** Adds CellThreads to every notebook panel. */
export class CellThreadsExtension implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  readonly views = new WeakMap<NotebookPanel, CellThreads>();

  createNew(panel: NotebookPanel, context: DocumentRegistry.IContext<INotebookModel>): IDisposable {
    const threads = new CellThreads(panel, context);
    this.views.set(panel, threads);
    return threads;
  }
}

/** Register the extension and the "comment on this cell" command (cell context menu). */
export function registerThreads(app: JupyterFrontEnd, tracker: INotebookTracker, hub: NbgovHub): void {
  const extension = new CellThreadsExtension();
  app.docRegistry.addWidgetExtension('Notebook', extension);
  app.commands.addCommand(COMMENT_CELL, {
    label: 'nbgov: Comment on This Cell',
    isEnabled: () => tracker.currentWidget !== null,
    execute: async () => {
      const panel = tracker.currentWidget;
      // the cell right-clicked (the menu's target), else the active one
      const hit = app.contextMenuHitTest(node => node.classList.contains('jp-Cell'));
      const cell = panel?.content.widgets.find(w => w.node === hit) ?? tracker.activeCell;
      if (!panel || !cell) {
        return;
      }
      const result = await InputDialog.getText({ title: 'Comment on this cell', placeholder: 'Your comment' });
      if (!result.button.accept || !result.value?.trim()) {
        return;
      }
      const path = serverPath(panel.context.path);
      try {
        if (panel.context.model.dirty) {
          await panel.context.save(); // the thread anchors to a cell id the server can read
        }
        await postThread({ action: 'comment', path, cell: cell.model.id, text: result.value });
      } catch (error) {
        await showErrorMessage('nbgov: comment not recorded', describe(error));
        return;
      }
      hub.notify(path);
      extension.views.get(panel)?.show(cell.model.id);
      await extension.views.get(panel)?.refresh();
    }
  });
  app.contextMenu.addItem({ command: COMMENT_CELL, selector: '.jp-Cell', rank: 70 });
}
