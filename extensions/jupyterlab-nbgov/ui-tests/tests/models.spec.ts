/**
 * The Models view, in the light, dark and high-contrast themes: the project's registered model
 * with its champion, the promotion gate's verdict on each version, and a promotion refused by
 * the gate (the server's `nbgov promote` gate) shown with its reasons as text.
 *
 * Runs in the built pass only (NBGOV_UI_BUILD=1). The fixture pipeline registers no model, so
 * before the test two versions are registered in the project's real MLflow store from the
 * train task's run, and `champion` is set on version 1, as an earlier release would have left
 * it. Those versions are not bound to a register task's lineage record: the gate refuses them.
 */
import { expect, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { gotoLab, shot } from './helpers';

test.use({ autoGoto: false, serverFiles: 'off', viewport: { width: 1280, height: 1000 } });
test.describe.configure({ mode: 'serial' });

const MODEL = 'ui-tests-classifier';

/** Register two versions of MODEL from the train task's run; champion -> version 1. */
const REGISTER = `
import sys
from mlflow.tracking import MlflowClient
store = f"sqlite:///{sys.argv[1]}/mlflow.db"
client = MlflowClient(tracking_uri=store, registry_uri=store)
exp = client.get_experiment_by_name("ui-tests")
(run,) = client.search_runs([exp.experiment_id], "tags.\`nbgov.task\` = 'train'", max_results=1)
client.create_registered_model("${MODEL}")
for _ in range(2):
    client.create_model_version("${MODEL}", run.info.artifact_uri + "/model", run_id=run.info.run_id)
client.set_registered_model_alias("${MODEL}", "champion", "1")
`;

function projectRoot(): string {
  const tmp = process.env.NBGOV_UI_TMP;
  if (!tmp) {
    throw new Error('NBGOV_UI_TMP is not set: run through playwright.config.js');
  }
  return fs.readFileSync(path.join(tmp, 'project-root'), 'utf-8').trim();
}

/** WCAG contrast ratio of two computed rgb() colours. */
function contrast(a: string, b: string): number {
  const luminance = (css: string) => {
    const m = /rgba?\(([^)]+)\)/.exec(css);
    if (!m) {
      throw new Error(`cannot read the colour ${css}`);
    }
    const [r, g, bl] = m[1]
      .split(/[\s,/]+/)
      .slice(0, 3)
      .map(v => Number(v) / 255)
      .map(c => (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4)));
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** The colour of `target`'s text against the first opaque background behind it. */
async function textContrast(target: Locator): Promise<number> {
  const [color, background] = await target.evaluate(el => {
    let node: Element | null = el;
    let bg = 'rgba(0, 0, 0, 0)';
    while (node) {
      bg = getComputedStyle(node).backgroundColor;
      if (!/rgba\(.*,\s*0\)$/.test(bg) && bg !== 'transparent') {
        break;
      }
      node = node.parentElement;
    }
    return [getComputedStyle(el).color, bg];
  });
  return contrast(color, background);
}

test.beforeAll(() => {
  execFileSync('python', ['-c', REGISTER, projectRoot()], { stdio: 'pipe', timeout: 120000 });
});

test('the Models view: the model and its champion; a promotion refused by the gate', async ({
  page
}) => {
  await gotoLab(page);
  await page.sidebar.openTab('nbgov-pipeline');
  // the panel's buttons (Open, Models, Refresh) fit the default sidebar: they wrap, never cut
  const header = page.locator('#nbgov-pipeline .nbgov-panel-header');
  await expect(header.locator('.nbgov-panel-refresh')).toBeVisible();
  const overflow = await header.evaluate(h => {
    const right = h.getBoundingClientRect().right;
    return [...h.querySelectorAll('button')]
      .filter(b => b.getBoundingClientRect().right > right + 0.5)
      .map(b => b.textContent);
  });
  expect(overflow, 'panel buttons cut off at the sidebar edge').toEqual([]);
  await page.locator('#nbgov-pipeline .nbgov-panel-open-models').click();
  const view = page.locator('.nbgov-models');
  const model = view.locator(`section.nbgov-model[data-model="${MODEL}"]`);
  // the server's first tracking-store query imports MLflow: slow on a loaded machine
  await expect(model.locator('.nbgov-model-aliases')).toHaveText('champion → v1', { timeout: 120000 });
  const v1 = model.locator('tr.nbgov-model-version[data-version="1"]');
  const v2 = model.locator('tr.nbgov-model-version[data-version="2"]');
  await expect(v1.locator('.nbgov-alias-champion')).toHaveText('champion');
  await expect(v1.locator('.nbgov-model-promote')).toBeDisabled();
  // the gate's verdict before anyone clicks: the CLI's gate, refusing (no register task vouches)
  await expect(v2.locator('.nbgov-model-gate')).toHaveAttribute('data-gate', 'refused');

  await v2.locator('.nbgov-model-promote').click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText(`Promote models:/${MODEL}/2 to champion?`);
  await dialog.locator('.jp-Dialog-button', { hasText: 'Promote' }).click();
  const result = view.locator('.nbgov-models-result.nbgov-promote-refused');
  await expect(result.locator('.nbgov-promote-title')).toHaveText(
    new RegExp(`^promotion of models:/${MODEL}/2 to 'champion' refused \\(\\d+ reason\\(s\\)\\)$`)
  );
  await expect(result.locator('.nbgov-promote-reasons li').first()).toContainText(`models:/${MODEL}/2`);
  await expect(result.locator('.nbgov-promote-reasons li').last()).toContainText('hint: ');
  // nothing moved: champion still on version 1
  await view.locator('.nbgov-models-refresh').click();
  await expect(model.locator('.nbgov-model-aliases')).toHaveText('champion → v1');
  await shot(view, 'models-light');

  for (const [theme, name] of [
    ['dark', 'JupyterLab Dark'],
    ['high-contrast', 'JupyterLab Dark High Contrast']
  ]) {
    await page.theme.setTheme(name);
    for (const target of [
      model.locator('.nbgov-model-name'),
      v2.locator('.nbgov-model-gate summary'),
      result.locator('.nbgov-promote-title'),
      result.locator('.nbgov-promote-reasons li').first()
    ]) {
      const ratio = await textContrast(target);
      expect(ratio, `${await target.getAttribute('class')} in ${theme}`).toBeGreaterThanOrEqual(4.5);
    }
    if (theme === 'dark') {
      await shot(view, 'models-dark');
    }
  }
  await page.theme.setLightTheme();
});
