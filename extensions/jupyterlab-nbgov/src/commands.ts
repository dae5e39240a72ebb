/**
 * The commands (palette and notebook context menu): Approve, Request changes, Diff against
 * approved, Refresh, Load task parameters, Show pipeline.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, ICommandPalette, InputDialog, MainAreaWidget, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { createCompareWidget } from './compare';
import { createDiffWidget, IDiffOptions } from './diff';
import { NbgovHub, serverPath } from './hub';
import { injectParameters } from './inject';
import { createLineageWidget } from './lineage';
import { ModelsView } from './models';
import { RunsView } from './runs';
import { CommandIDs, Decision, NbgovAPIError } from './tokens';

const CATEGORY = 'nbgov';

/** What the commands need from the application. */
export interface ICommandDeps {
  app: JupyterFrontEnd;
  hub: NbgovHub;
  tracker: INotebookTracker;
  diffOptions: IDiffOptions;
  palette: ICommandPalette | null;
  panelId: string;
}

/** Show an API failure as a dialog; message and hint are text. */
async function report(title: string, error: unknown): Promise<void> {
  const text = error instanceof NbgovAPIError ? error.describe() : String(error);
  await showErrorMessage(title, text);
}

/** Register every nbgov command, its palette entry and its context menu item. */
export function registerCommands(deps: ICommandDeps): void {
  const { app, hub, tracker, diffOptions, palette } = deps;
  const current = (): NotebookPanel | null => tracker.currentWidget;
  const hasNotebook = (): boolean => current() !== null;
  const label = (text: string) => () => (current() ? text : `${text} (open a notebook first)`);

  /** Ask for a note, save the notebook, record the decision, tell the views. */
  const decide = async (
    decision: Decision,
    dialog: { title: string; label: string; okLabel: string; noteRequired: string | null }
  ): Promise<void> => {
    const panel = current();
    if (!panel) {
      return;
    }
    const path = serverPath(panel.context.path);
    const result = await InputDialog.getText({
      title: `${dialog.title} ${path}`,
      label: dialog.label,
      okLabel: dialog.okLabel
    });
    if (!result.button.accept) {
      return;
    }
    const note = (result.value ?? '').trim();
    if (!note && dialog.noteRequired) {
      await showErrorMessage('nbgov', dialog.noteRequired);
      return;
    }
    // the ledger records the version on disk: what the reviewer sees must be saved first
    if (panel.context.model.dirty) {
      await panel.context.save();
    }
    try {
      hub.update(await hub.client.decide(path, decision, note));
    } catch (error) {
      await report(`nbgov: could not record the review of ${path}`, error);
    }
  };

  app.commands.addCommand(CommandIDs.approve, {
    label: label('Approve notebook (nbgov)'),
    caption: 'Record an approval of the current version of this notebook',
    isEnabled: hasNotebook,
    execute: () =>
      decide('approved', {
        title: 'Approve',
        label: 'Note (optional)',
        okLabel: 'Approve',
        noteRequired: null
      })
  });

  app.commands.addCommand(CommandIDs.requestChanges, {
    label: label('Request changes (nbgov)'),
    caption: 'Record a "changes requested" decision with a note',
    isEnabled: hasNotebook,
    execute: () =>
      decide('changes_requested', {
        title: 'Request changes to',
        label: 'What should change? (required)',
        okLabel: 'Request changes',
        noteRequired: 'A request for changes needs a note saying what to change.'
      })
  });

  app.commands.addCommand(CommandIDs.diff, {
    label: args =>
      label(args.outputs ? 'Diff against approved, with outputs (nbgov)' : 'Diff against approved (nbgov)')(),
    caption: "nbdime diff of the approved version against this notebook's current version",
    isEnabled: hasNotebook,
    execute: async args => {
      const panel = current();
      if (!panel) {
        return;
      }
      const path = serverPath(panel.context.path);
      try {
        const payload = await hub.client.diff(path, Boolean(args.outputs));
        const widget = await createDiffWidget(payload, diffOptions);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      } catch (error) {
        await report(`nbgov: no diff for ${path}`, error);
      }
    }
  });

  app.commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh review status and pipeline (nbgov)',
    execute: async () => {
      try {
        await hub.client.info(true);
      } catch {
        // the views show why; a refresh must still repaint them
      }
      hub.notify(null);
    }
  });

  app.commands.addCommand(CommandIDs.injectParameters, {
    label: label('Load task parameters for an interactive run (nbgov)'),
    caption:
      'Insert a cell with the pipeline task\'s parameters, upstream and product values ' +
      '(tagged "injected-parameters"; not saved)',
    isEnabled: hasNotebook,
    execute: async () => {
      const panel = current();
      if (!panel || !panel.content.model) {
        return;
      }
      const path = serverPath(panel.context.path);
      try {
        const context = await hub.client.taskContext(path);
        const index = injectParameters(panel.content.model.sharedModel, context);
        panel.content.activeCellIndex = index;
      } catch (error) {
        await report(`nbgov: no task parameters for ${path}`, error);
      }
    }
  });

  app.commands.addCommand(CommandIDs.lineage, {
    label: args => (args.target ? `Lineage of ${String(args.target)} (nbgov)` : 'Lineage of this task (nbgov)'),
    caption: 'Which data, runs and reviewed notebooks made a task\'s products',
    isEnabled: args => Boolean(args.target) || hasNotebook(),
    execute: async args => {
      let target = args.target ? String(args.target) : null;
      try {
        if (!target) {
          const panel = current();
          if (!panel) {
            return;
          }
          const state = await hub.client.review(serverPath(panel.context.path));
          if (!state.task) {
            await showErrorMessage('nbgov', `${state.path} is not a task of the pipeline.`);
            return;
          }
          target = state.task;
        }
        const widget = createLineageWidget(target, await hub.client.lineage(target), {
          showRuns: task => void app.commands.execute(CommandIDs.runs, { task })
        });
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      } catch (error) {
        await report(`nbgov: no lineage for ${target ?? 'this notebook'}`, error);
      }
    }
  });

  app.commands.addCommand(CommandIDs.runs, {
    label: args => (args.task ? `Runs of ${String(args.task)} (nbgov)` : 'Runs of a task (nbgov)'),
    caption: "A task's runs (tracking store and local journal); compare two of them",
    isEnabled: args => Boolean(args.task),
    execute: async args => {
      const task = String(args.task);
      try {
        const payload = await hub.client.runs(task);
        const view = new RunsView(payload, {
          onCompare: async (a, b) => {
            try {
              const widget = await createCompareWidget(await hub.client.compare(task, a, b), diffOptions);
              app.shell.add(widget, 'main');
              app.shell.activateById(widget.id);
            } catch (error) {
              await report(`nbgov: cannot compare runs of ${task}`, error);
            }
          }
        });
        const widget = new MainAreaWidget({ content: view });
        widget.id = `nbgov-runs-${Date.now()}`;
        widget.title.label = `Runs: ${task}`;
        widget.title.closable = true;
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      } catch (error) {
        await report(`nbgov: no runs of ${task}`, error);
      }
    }
  });

  app.commands.addCommand(CommandIDs.models, {
    label: 'Models (nbgov)',
    caption: "The project's registered models: versions, aliases, the promotion gate, the last monitor",
    execute: async () => {
      for (const open of app.shell.widgets('main')) {
        if (open.id === 'nbgov-models') {
          app.shell.activateById(open.id);
          await ((open as MainAreaWidget<ModelsView>).content.reload());
          return;
        }
      }
      const view = new ModelsView({
        load: () => hub.client.models(),
        promote: (uri, alias) => hub.client.promote(uri, alias),
        confirm: async (uri, alias) =>
          (
            await showDialog({
              title: `Promote ${uri} to ${alias}?`,
              body: "The server checks nbgov promote's gate (approvals, thresholds) first.",
              buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Promote' })]
            })
          ).button.accept
      });
      const widget = new MainAreaWidget({ content: view });
      widget.id = 'nbgov-models';
      widget.title.label = 'Models';
      widget.title.closable = true;
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
      await view.reload();
    }
  });

  app.commands.addCommand(CommandIDs.openPanel, {
    label: 'Show pipeline (nbgov)',
    execute: () => app.shell.activateById(deps.panelId)
  });

  const all = [
    CommandIDs.approve,
    CommandIDs.requestChanges,
    CommandIDs.diff,
    CommandIDs.injectParameters,
    CommandIDs.lineage,
    CommandIDs.refresh,
    CommandIDs.openPanel,
    CommandIDs.models
  ];
  all.forEach(command => palette?.addItem({ command, category: CATEGORY }));
  palette?.addItem({ command: CommandIDs.diff, args: { outputs: true }, category: CATEGORY });
  const inMenu = [CommandIDs.approve, CommandIDs.requestChanges, CommandIDs.diff, CommandIDs.refresh];
  app.contextMenu.addItem({ type: 'separator', selector: '.jp-Notebook', rank: 60 });
  inMenu.forEach((command, i) => {
    app.contextMenu.addItem({ command, selector: '.jp-Notebook', rank: 60 + i + 1 });
  });
  const updateStates = () => all.forEach(command => app.commands.notifyCommandChanged(command));
  tracker.currentChanged.connect(updateStates);
}
