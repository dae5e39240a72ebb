/**
 * A full review round in the browser, against the real nbgov server extension: the badge,
 * approving from the context menu, the DAG panel, the diff against the approved version, a
 * request for changes, and an interactive run with injected task parameters that are not saved.
 *
 * The tests share one server (state carries over), so they run in order.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { gotoLab, openNotebook, shot } from './helpers';

test.use({ autoGoto: false, serverFiles: 'off', viewport: { width: 1280, height: 1000 } });
test.describe.configure({ mode: 'serial' });

test.beforeEach(async ({ page }) => {
  await gotoLab(page);
});

/** Right-click the notebook, pick a menu entry, fill the dialog's note and press its button. */
async function decideFromMenu(
  page: IJupyterLabPageFixture,
  item: string,
  note: string,
  button: string,
  screenshot?: string
): Promise<void> {
  await page
    .locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')
    .first()
    .click({ button: 'right' });
  const entry = page.locator('.lm-Menu-itemLabel', { hasText: item });
  if (screenshot) {
    await expect(entry).toBeVisible();
    await shot(page.locator('.lm-Menu').first(), screenshot);
  }
  await entry.click();
  const dialog = page.locator('.jp-Dialog');
  await dialog.locator('input').fill(note);
  await dialog.locator('.jp-Dialog-button', { hasText: button }).click();
  await expect(dialog).toHaveCount(0);
}

test('badge, approval from the context menu, and the pipeline DAG', async ({ page }) => {
  const badge = await openNotebook(page, 'train.ipynb');
  await expect(badge).toHaveText('unreviewed');
  await expect(badge).toHaveAttribute('title', /version: nbv1:/);
  await expect(badge).toHaveAttribute('title', /last decision: none yet/);

  await decideFromMenu(
    page,
    'Approve notebook (nbgov)',
    'fine <b>by me</b>',
    'Approve',
    'context-menu'
  );
  await expect(badge).toHaveText('approved');
  await expect(badge).toHaveAttribute('title', /last decision: approved by Rita Reviewer/);
  await expect(badge).toHaveAttribute('title', /note: fine <b>by me<\/b>/);
  await shot(page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar'), 'badge');

  await page.sidebar.openTab('nbgov-pipeline');
  const panel = page.locator('#nbgov-pipeline');
  const nodes = panel.locator('svg .nbgov-dag-node');
  await expect(nodes).toHaveCount(4);
  await expect(panel.locator('svg .nbgov-dag-edge')).toHaveCount(4);
  const train = panel.locator('svg [data-task="train"]');
  await expect(train).toHaveAttribute('data-review', 'approved');
  await expect(train).toHaveClass(/nbgov-current/);
  for (const name of ['load', 'features', 'evaluate']) {
    await expect(panel.locator(`svg [data-task="${name}"]`)).toHaveAttribute(
      'data-review',
      'unreviewed'
    );
  }
  // make test-browser runs this file twice: on a fresh project, then with NBGOV_UI_BUILD=1,
  // which builds the project before the server starts (real states, metrics and lineage)
  const built = Boolean(process.env.NBGOV_UI_BUILD);
  for (const name of ['load', 'features', 'train', 'evaluate']) {
    await expect(panel.locator(`svg [data-task="${name}"]`)).toHaveAttribute(
      'data-state',
      built ? 'up-to-date' : 'never-run'
    );
  }
  if (built) {
    await expect(panel.locator('.nbgov-task[data-task="evaluate"] .nbgov-task-run')).toHaveText(
      /last run: .*accuracy=/
    );
  }
  await expect(panel.locator('.nbgov-task[data-task="train"] .nbgov-chip').last()).toHaveText(
    'approved'
  );
  await shot(panel, 'pipeline-panel');

  // lineage of a task: a tree in a tab once it ran; before, the server's reason in a dialog
  await panel.locator('.nbgov-task[data-task="train"] .nbgov-task-lineage').click();
  if (built) {
    const lineage = page.locator('.nbgov-lineage');
    await expect(lineage.locator('.nbgov-lineage-header')).toHaveText('Lineage of train');
    await expect(lineage).toContainText('task: train');
    // the status when it ran (built before the approval), not the status now
    await expect(lineage).toContainText('review_status: unreviewed');
    await expect(lineage).toContainText('path: products/features.csv');
    await shot(lineage, 'lineage');
  } else {
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('nbgov: no lineage for train');
    await dialog.locator('.jp-Dialog-button').last().click();
    await expect(dialog).toHaveCount(0);
  }

  // clicking a task opens its notebook
  await panel.locator('svg [data-task="evaluate"]').click();
  await expect(page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current')).toHaveText(
    /evaluate\.ipynb/
  );
});

test('a change makes the approval stale; diff against approved; request changes', async ({
  page
}) => {
  const badge = await openNotebook(page, 'train.ipynb');
  await expect(badge).toHaveText('approved');

  await page.notebook.setCell(1, 'code', 'share = 0.5  # NBGOV-CHANGED-LINE');
  await page.notebook.save();
  await expect(badge).toHaveText('stale');

  await page
    .locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')
    .first()
    .click({ button: 'right' });
  await page.locator('.lm-Menu-itemLabel', { hasText: 'Diff against approved (nbgov)' }).click();
  const diff = page.locator('.nbgov-diff');
  await expect(diff).toBeVisible();
  await expect(diff.locator('.nbgov-diff-header')).toHaveText(
    /notebooks\/train\.ipynb: approved nbv1:\w+ → current nbv1:\w+/
  );
  await expect(diff).toContainText('NBGOV-CHANGED-LINE');
  // the review view has no cell ids: nbdime's header must not say "Cell ID: undefined"
  await expect(diff).not.toContainText('Cell ID: undefined');
  await shot(diff, 'diff');

  await openNotebook(page, 'train.ipynb');
  await decideFromMenu(page, 'Request changes (nbgov)', 'keep the threshold', 'Request changes');
  await expect(badge).toHaveText('changes requested');
  await expect(badge).toHaveAttribute('title', /note: keep the threshold/);

  await page.sidebar.openTab('nbgov-pipeline');
  await expect(page.locator('#nbgov-pipeline svg [data-task="train"]')).toHaveAttribute(
    'data-review',
    'changes-requested'
  );
});

test('interactive run with task parameters that are not saved', async ({ page }) => {
  await openNotebook(page, 'features.ipynb');
  await page.evaluate(() => (window as any).jupyterapp.commands.execute('nbgov:inject-parameters'));
  await expect.poll(() => page.notebook.getCellTextInput(1)).toContain('# Injected by nbgov');
  const injected = await page.notebook.getCellTextInput(1);
  expect(injected).toContain('upstream = {"load": {');
  expect(injected).toContain('product = {');

  await page.notebook.addCell('code', "print('RAW', upstream['load']['data'])");
  await page.notebook.runCell(1, true);
  await page.notebook.runCell(3, true);
  const output = await page.notebook.getCellTextOutput(3);
  expect((output ?? []).join('')).toMatch(/RAW .*raw\.csv/);

  await page.notebook.save();
  const response = await page.request.get('/api/contents/notebooks/features.ipynb?content=1');
  const saved = (await response.json()).content;
  const tags = saved.cells.map((cell: any) => cell.metadata?.tags ?? []);
  expect(tags.some((t: string[]) => t.includes('injected-parameters'))).toBe(false);
  expect(saved.cells.map((cell: any) => cell.source).join('\n')).toContain("print('RAW'");
});
