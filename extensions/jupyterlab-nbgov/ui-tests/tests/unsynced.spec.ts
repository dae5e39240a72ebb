/**
 * Runs kept locally, in the browser: the fixture project is built while its tracking server is
 * down (NBGOV_UI_BUILD=offline, see jupyter_server_test_config.py), so every run is in the
 * project's journal only. The Pipeline panel must say so (a banner with the count, a
 * "not synced" chip per task), and so must an open notebook's toolbar badge, until `nbgov sync`
 * has sent them, and not after; the lineage of a task is drawn from the local records meanwhile.
 */
import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { gotoLab, openNotebook, shot } from './helpers';

test.use({ autoGoto: false, serverFiles: 'off', viewport: { width: 1280, height: 1000 } });

const TASKS = ['load', 'features', 'train', 'evaluate'];

/** The project the server serves (written by jupyter_server_test_config.py). */
function projectRoot(): string {
  const tmp = process.env.NBGOV_UI_TMP;
  expect(tmp, 'NBGOV_UI_TMP is set by playwright.config.js').toBeTruthy();
  return fs.readFileSync(path.join(tmp!, 'project-root'), 'utf-8').trim();
}

test('the Pipeline panel and the notebook badge show runs not yet synced until nbgov sync', async ({ page }) => {
  await gotoLab(page);
  // the open notebook's badge: its review status, and that its task's last run is local only
  const badge = await openNotebook(page, 'train.ipynb');
  await expect(badge).toHaveText('unreviewed · not synced');
  await expect(badge).toHaveAttribute('data-synced', 'false');
  await expect(badge).toHaveAttribute('title', /last run: This run is kept in the local journal.*nbgov sync/);
  await shot(page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar'), 'badge-unsynced');

  await page.sidebar.openTab('nbgov-pipeline');
  const panel = page.locator('#nbgov-pipeline');
  await expect(panel.locator('svg .nbgov-dag-node')).toHaveCount(4);

  const banner = panel.locator('.nbgov-panel-unsynced');
  await expect(banner).toBeVisible();
  await expect(banner).toHaveText(
    '4 runs kept locally, not yet in the tracking store — run nbgov sync'
  );
  await expect(banner.locator('code')).toHaveText('nbgov sync');
  for (const name of TASKS) {
    const row = panel.locator(`.nbgov-task[data-task="${name}"]`);
    await expect(row.locator('.nbgov-chip.nbgov-unsynced')).toHaveText('not synced');
    await expect(row.locator('.nbgov-chip.nbgov-unsynced')).toHaveAttribute('title', /nbgov sync/);
    await expect(panel.locator(`svg [data-task="${name}"]`)).toHaveAttribute('data-synced', 'false');
    // the run itself is known (from the local lineage record): outcome and metrics show
    await expect(row.locator('.nbgov-task-run')).toHaveText(/^last run: succeeded/);
  }
  await shot(panel, 'pipeline-unsynced');

  // the lineage of a task comes from the local records: every upstream run is found
  await panel.locator('.nbgov-task[data-task="train"] .nbgov-task-lineage').click();
  const lineage = page.locator('.nbgov-lineage');
  await expect(lineage.locator('.nbgov-lineage-header')).toHaveText('Lineage of train');
  await expect(lineage).toContainText('task: features');
  await expect(lineage).toContainText('missing — [0]');

  // the store is back (the project's own mlflow.db): `nbgov sync` sends the four runs
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.MLFLOW_TRACKING_URI;
  const out = execFileSync('nbgov', ['sync', '--json', '--project', projectRoot()], {
    env,
    encoding: 'utf-8',
    timeout: 240000
  });
  expect(JSON.parse(out).runs_sent).toBe(4);

  // the panel's Refresh asks every view again: the badge too
  await panel.locator('.nbgov-panel-refresh').click();
  await expect(banner).toBeHidden();
  // (the notebook is behind the lineage view now: bring it to the front to look at it)
  await page.notebook.activate('train.ipynb');
  await expect(badge).toHaveText('unreviewed');
  await expect(badge).not.toHaveAttribute('data-synced');
  await expect(panel.locator('.nbgov-unsynced')).toHaveCount(0);
  await expect(panel.locator('svg [data-synced]')).toHaveCount(0);
  await expect(panel.locator('.nbgov-task[data-task="evaluate"] .nbgov-task-run')).toHaveText(
    /last run: succeeded.*accuracy=/
  );
});
