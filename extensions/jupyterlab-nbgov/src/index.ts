/**
 * jupyterlab-nbgov: nbgov's review status and pipeline where people work.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';

import { ReviewBadgeExtension } from './badge';
import { registerCommands } from './commands';
import { NbgovHub, serverPath } from './hub';
import { createDagWidget } from './dagview';
import { PipelinePanel } from './panel';
import { registerThreads } from './threads';
import { CommandIDs } from './tokens';

const PANEL_ID = 'nbgov-pipeline';

/** A small DAG: three nodes, two edges. */
const pipelineIcon = new LabIcon({
  name: 'nbgov:pipeline',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="9" y="2" width="6" height="5" rx="1"/><rect x="3" y="17" width="6" height="5" rx="1"/>' +
    '<rect x="15" y="17" width="6" height="5" rx="1"/>' +
    '<path d="M11.3 7h1.4v4H18a1 1 0 0 1 1 1v5h-1.4v-4.6H6.4V17H5v-5a1 1 0 0 1 1-1h5.3z"/></g></svg>'
});

/** The panel's DAG in a main-area tab (one at a time: opening again redraws it). */
function openDagInMain(app: JupyterFrontEnd, panel: PipelinePanel): void {
  const pipeline = panel.pipeline;
  if (!pipeline) {
    return;
  }
  const widget = createDagWidget(pipeline, {
    current: panel.currentTask(),
    onOpen: task => void app.commands.execute('docmanager:open', { path: serverPath(task.source) })
  });
  for (const open of app.shell.widgets('main')) {
    if (open.id === widget.id) {
      open.dispose();
    }
  }
  app.shell.add(widget, 'main');
  app.shell.activateById(widget.id);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-nbgov:plugin',
  description: 'nbgov: review badge, pipeline DAG panel and review commands.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry],
  optional: [ICommandPalette, ILayoutRestorer, ILabShell, IEditorServices],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null,
    editorServices: IEditorServices | null
  ) => {
    const hub = new NbgovHub();
    app.docRegistry.addWidgetExtension('Notebook', new ReviewBadgeExtension(hub));
    registerThreads(app, tracker, hub); // cell comment threads (threads.ts)

    const panel = new PipelinePanel({
      hub,
      open: path => void app.commands.execute('docmanager:open', { path }),
      currentPath: () =>
        tracker.currentWidget ? serverPath(tracker.currentWidget.context.path) : null,
      showLineage: target => void app.commands.execute(CommandIDs.lineage, { target }),
      showRuns: task => void app.commands.execute(CommandIDs.runs, { task }),
      openDag: () => openDagInMain(app, panel),
      openModels: () => void app.commands.execute(CommandIDs.models)
    });
    panel.title.icon = pipelineIcon;
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, PANEL_ID);
    // highlight follows the notebook in focus; a renamed notebook keeps its highlight
    tracker.currentChanged.connect(() => panel.draw());
    tracker.widgetAdded.connect((_, nb) => nb.context.pathChanged.connect(() => panel.draw()));
    labShell?.currentChanged.connect(() => panel.draw());

    registerCommands({
      app,
      hub,
      tracker,
      palette,
      panelId: PANEL_ID,
      diffOptions: {
        rendermime,
        editorFactory: editorServices
          ? options => editorServices.factoryService.newInlineEditor(options)
          : undefined
      }
    });

    // say once, in the console too, when the server side is missing
    hub.client.info().catch(error => console.warn(`jupyterlab-nbgov: ${error.message ?? error}`));
  }
};

export default plugin;
