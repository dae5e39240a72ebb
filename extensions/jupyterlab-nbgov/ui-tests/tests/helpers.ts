/**
 * What the specs share: JupyterLab's start with a longer patience, opening a notebook, and the
 * screenshots the documentation uses.
 */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import * as path from 'path';

/**
 * Open JupyterLab. galata gives it a fixed 15 s to start (its waitForCondition default), which
 * a first load on a busy 2-core CI machine can exceed: waits without their own timeout get
 * 2 minutes.
 */
export async function gotoLab(page: IJupyterLabPageFixture): Promise<void> {
  const lab = page as any;
  const waitForCondition = lab.waitForCondition.bind(lab);
  lab.waitForCondition = (condition: () => Promise<boolean> | boolean, timeout?: number) =>
    waitForCondition(condition, timeout ?? 120000);
  await page.goto();
}

/**
 * The documentation's pictures of the extension are taken by the specs, on every run, so that
 * a change of the UI shows in them: into ui-tests/screenshots/ (ignored by git), or into
 * $NBGOV_SCREENSHOT_DIR (`make screenshots` points it at docs/assets/screenshots/).
 */
const SHOTS = process.env.NBGOV_SCREENSHOT_DIR || path.resolve(__dirname, '..', 'screenshots');

/** Save a picture of `target` as `<name>.png` (see SHOTS). */
export async function shot(target: Locator, name: string): Promise<void> {
  await target.screenshot({ path: path.join(SHOTS, `${name}.png`), animations: 'disabled' });
}

/** Open `notebooks/<file>` of the project and return its toolbar's nbgov badge. */
export async function openNotebook(page: IJupyterLabPageFixture, file: string): Promise<Locator> {
  expect(await page.notebook.openByPath(`notebooks/${file}`)).toBe(true);
  await page.notebook.activate(file);
  const panel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  return panel.locator('.jp-NotebookPanel-toolbar .nbgov-badge');
}
