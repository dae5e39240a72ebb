/**
 * "Diff against approved": the server's nbdime diff of the approved snapshot against the current
 * notebook, rendered with nbdime's NotebookDiffWidget in a main-area tab.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { CodeEditor } from '@jupyterlab/codeeditor';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Panel } from '@lumino/widgets';
import { NotebookDiffModel } from 'nbdime/lib/diff/model';
import { NotebookDiffWidget } from 'nbdime/lib/diff/widget';

import { hideMissingCellIds } from './cellids';
import { shortVersion } from './status';
import { IDiffPayload } from './tokens';

/** Options of createDiffWidget. */
export interface IDiffOptions {
  rendermime: IRenderMimeRegistry;
  editorFactory?: CodeEditor.Factory;
}

/**
 * nbdime's notebook diff widget for `base` and its `diff` (call `init()` before showing it);
 * the cell-id rows of notebooks without ids are left out.
 */
export function makeNotebookDiff(base: any, diff: any[], options: IDiffOptions): NotebookDiffWidget {
  const model = new NotebookDiffModel(base, diff);
  hideMissingCellIds(model.cells);
  return new NotebookDiffWidget({
    model,
    rendermime: options.rendermime,
    editorFactory: options.editorFactory
  });
}

/**
 * Build a main-area widget showing a diff payload.
 *
 * Outputs and HTML in the notebooks are rendered through the page's rendermime registry, which
 * treats them as untrusted (no scripts), as nbdime does.
 */
export async function createDiffWidget(
  payload: IDiffPayload,
  options: IDiffOptions
): Promise<MainAreaWidget<Panel>> {
  const diff = makeNotebookDiff(payload.base, payload.diff, options);
  const content = new Panel();
  content.addClass('nbgov-diff');
  content.addClass('jp-Notebook-diff');

  const header = document.createElement('div');
  header.className = 'nbgov-diff-header';
  header.textContent =
    `${payload.path}: approved ${shortVersion(payload.approved_version)} → ` +
    `current ${shortVersion(payload.current_version)}` +
    (payload.diff.length === 0 ? ' (no change)' : '');
  const headerWidget = new Panel();
  headerWidget.node.appendChild(header);
  content.addWidget(headerWidget);
  content.addWidget(diff);

  const widget = new MainAreaWidget({ content });
  widget.id = `nbgov-diff-${Date.now()}`;
  widget.title.label = `Diff ${payload.path.split('/').pop()} vs approved`;
  widget.title.caption = `${payload.path}: approved version against the current one`;
  widget.title.closable = true;
  await diff.init();
  return widget;
}
