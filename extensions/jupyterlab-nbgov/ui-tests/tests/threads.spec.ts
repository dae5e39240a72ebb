/**
 * Cell comment threads in JupyterLab: open a thread on a cell from the cell's context menu, see
 * the marker on the cell and the thread beside it, reply, resolve. A comment holding HTML is
 * shown as text. Runs in the built pass (NBGOV_UI_BUILD=1), after nbgov.spec.ts.
 */
import { expect, test } from '@jupyterlab/galata';

import { gotoLab, openNotebook, shot } from './helpers';

test.use({ autoGoto: false, serverFiles: 'off', viewport: { width: 1280, height: 900 } });

const EVIL = '<img src=x onerror="window.__nbgovXss=1"> why this metric?';

test('a thread on a cell: marker, thread beside it, reply and resolve', async ({ page }) => {
  await gotoLab(page);
  await openNotebook(page, 'evaluate.ipynb');
  const nb = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const cell = nb.locator('.jp-Cell').nth(1);
  await cell.click({ button: 'right' });
  await page.locator('.lm-Menu-itemLabel', { hasText: 'nbgov: Comment on This Cell' }).click();
  const dialog = page.locator('.jp-Dialog');
  await dialog.locator('input').fill(EVIL);
  await dialog.locator('.jp-Dialog-button', { hasText: 'Ok' }).click();
  await expect(dialog).toHaveCount(0);

  const marker = cell.locator('.nbgov-thread-marker');
  await expect(marker).toHaveText('1 open / 1 thread');
  const view = cell.locator('.nbgov-thread-view');
  await expect(view.locator('.nbgov-thread-text')).toHaveText(EVIL); // text, not HTML
  await expect(view.locator('img')).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).__nbgovXss)).toBeUndefined();

  await view.locator('.nbgov-thread-input').fill('f1 is what [promote] gates on');
  await view.locator('.nbgov-thread-reply').click();
  await expect(view.locator('.nbgov-thread-comment')).toHaveCount(2);
  await shot(cell, 'threads');

  await view.locator('.nbgov-thread-resolve').click();
  await expect(marker).toHaveText('0 open / 1 thread');
  await expect(view.locator('.nbgov-thread-header')).toContainText('resolved by');
  await expect(view.locator('.nbgov-thread-input')).toHaveCount(0);

  // closed and opened again, the notebook shows the thread from the ledger (anchored to the cell id)
  await page.notebook.close(true);
  await openNotebook(page, 'evaluate.ipynb');
  await expect(
    page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').nth(1).locator('.nbgov-thread-marker')
  ).toHaveText('0 open / 1 thread');
});
