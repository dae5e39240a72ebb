/**
 * The Pipeline panel as a workbench, in the light and the dark theme: the open notebook's task
 * readable in both (measured contrast), state lines that fit their boxes, no "unsigned" where
 * the project does not sign, the DAG in the main area, and Refresh re-planning on the server
 * (no "run `nbgov status`" left after it).
 *
 * Runs in the built pass only (NBGOV_UI_BUILD=1, after nbgov.spec.ts on the same server).
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { gotoLab, openNotebook, shot } from './helpers';

test.use({ autoGoto: false, serverFiles: 'off', viewport: { width: 1280, height: 1000 } });
test.describe.configure({ mode: 'serial' });

const STALE = 'run `nbgov status`';

/** The project the server serves (jupyter_server_test_config.py writes where). */
function projectRoot(): string {
  const tmp = process.env.NBGOV_UI_TMP;
  if (!tmp) {
    throw new Error('NBGOV_UI_TMP is not set: run through playwright.config.js');
  }
  return fs.readFileSync(path.join(tmp, 'project-root'), 'utf-8').trim();
}

/** sRGB channels (0..1) of a computed CSS colour: rgb()/rgba() or color(srgb ...). */
function channels(css: string): number[] {
  const rgb = /rgba?\(([^)]+)\)/.exec(css);
  if (rgb) {
    return rgb[1]
      .split(/[\s,/]+/)
      .slice(0, 3)
      .map(v => Number(v) / 255);
  }
  const srgb = /color\(srgb ([^)]+)\)/.exec(css);
  if (srgb) {
    return srgb[1].split(/[\s/]+/).slice(0, 3).map(Number);
  }
  throw new Error(`cannot read the colour ${css}`);
}

/** WCAG contrast ratio of two computed colours. */
function contrast(a: string, b: string): number {
  const luminance = (css: string) => {
    const [r, g, bl] = channels(css).map(c =>
      c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4)
    );
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

async function style(target: Locator, property: string): Promise<string> {
  return target.evaluate((el, prop) => getComputedStyle(el).getPropertyValue(prop), property);
}

async function openPanel(page: IJupyterLabPageFixture): Promise<Locator> {
  await page.sidebar.openTab('nbgov-pipeline');
  const panel = page.locator('#nbgov-pipeline');
  await expect(panel.locator('svg .nbgov-dag-node')).toHaveCount(4);
  return panel;
}

/** The open notebook's task readable (contrast) and every node's text inside its box. */
async function checkReadable(panel: Locator, theme: string): Promise<void> {
  const row = panel.locator('.nbgov-task.nbgov-current');
  await expect(row).toHaveAttribute('data-task', 'train');
  const rowText = row.locator('.nbgov-task-run');
  const rowRatio = contrast(await style(rowText, 'color'), await style(row, 'background-color'));
  expect(rowRatio, `task row text on its highlight, ${theme}`).toBeGreaterThanOrEqual(4.5);

  const node = panel.locator('svg .nbgov-dag-node.nbgov-current');
  const box = node.locator('.nbgov-dag-box');
  const nodeRatio = contrast(
    await style(node.locator('.nbgov-dag-name'), 'fill'),
    await style(box, 'fill')
  );
  expect(nodeRatio, `node name on its highlight, ${theme}`).toBeGreaterThanOrEqual(4.5);
  const subRatio = contrast(
    await style(node.locator('.nbgov-dag-review'), 'fill'),
    await style(box, 'fill')
  );
  expect(subRatio, `node state lines on its highlight, ${theme}`).toBeGreaterThanOrEqual(4.5);

  // every text of every node inside its box, at a readable size (not shrunk to the sidebar)
  const overflow = await panel.locator('svg.nbgov-dag').evaluate(svg => {
    const out: string[] = [];
    svg.querySelectorAll('.nbgov-dag-node').forEach(g => {
      const width = Number(g.querySelector('rect')!.getAttribute('width'));
      g.querySelectorAll('text').forEach(t => {
        const b = (t as SVGTextElement).getBBox();
        if (b.x + b.width > width - 2) {
          out.push(`${t.textContent} (${Math.round(b.x + b.width)} > ${width})`);
        }
      });
    });
    return out;
  });
  expect(overflow).toEqual([]);
  const sizes = await panel
    .locator('svg .nbgov-dag-sub')
    .evaluateAll(texts => texts.map(t => t.getBoundingClientRect().height));
  expect(Math.min(...sizes)).toBeGreaterThanOrEqual(11);
  // paths wrap between folders only: each "folder/" piece sits on one line
  const broken = await panel.locator('.nbgov-task-path').evaluateAll(paths => {
    const out: string[] = [];
    for (const p of paths) {
      p.childNodes.forEach(child => {
        if (child.nodeType === Node.TEXT_NODE) {
          const range = document.createRange();
          range.selectNodeContents(child);
          if (range.getClientRects().length > 1) {
            out.push(child.textContent ?? '');
          }
        }
      });
    }
    return out;
  });
  expect(broken, 'path pieces broken across lines').toEqual([]);
  await shot(panel, theme === 'dark' ? 'pipeline-panel-dark' : 'pipeline-panel-light');
}

test("the open notebook's task is readable and fits in light and dark; Refresh re-plans", async ({
  page
}) => {
  await gotoLab(page);
  const badge = await openNotebook(page, 'train.ipynb');
  await expect(badge).not.toHaveText('nbgov: …');
  // the fixture project does not sign decisions: no badge says "unsigned"
  await expect(badge).not.toContainText('unsigned');
  const panel = await openPanel(page);
  // laid out by ELK, as the lineage graph is
  await expect(panel.locator('svg.nbgov-dag')).toHaveAttribute('data-layout', 'elk');
  await checkReadable(panel, 'light');
  await page.theme.setDarkTheme();
  await checkReadable(panel, 'dark');

  // the same graph in the main area
  await panel.locator('.nbgov-panel-open-dag').click();
  const main = page.locator('.nbgov-dag-main');
  await expect(main.locator('.nbgov-dag-node')).toHaveCount(4);
  await expect(main.locator('svg.nbgov-dag')).toHaveAttribute('data-layout', 'elk');
  await expect(main.locator('.nbgov-dag-node.nbgov-current')).toHaveAttribute('data-task', 'train');
  await shot(main, 'pipeline-main-dark');
  await page.theme.setLightTheme();
  await shot(main, 'pipeline-main-light');
  // keyboard: a node takes the focus and Enter opens its notebook
  await main.locator('[data-task="evaluate"]').focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current')).toHaveText(
    /evaluate\.ipynb/
  );

  // Refresh re-plans on the server: no "run `nbgov status`" left after it
  const spec = path.join(projectRoot(), 'pipeline.yaml');
  const plan = path.join(projectRoot(), '.nbgov', 'cache', 'plan.json');
  const original = fs.readFileSync(spec, 'utf-8');
  try {
    // pipeline.yaml changed behind the plan's back: a GET cannot re-plan (it runs no code)
    fs.writeFileSync(spec, original.replace('seed: 3', 'seed: 4'));
    const before = fs.statSync(plan).mtimeMs;
    await panel.locator('.nbgov-panel-refresh').click();
    await expect(panel).not.toHaveAttribute('data-replanning', 'true', { timeout: 120000 });
    await expect(panel).not.toHaveAttribute('data-loading', 'true');
    expect(fs.statSync(plan).mtimeMs).toBeGreaterThan(before);
    await expect(panel.locator('.nbgov-panel-hints')).not.toContainText(STALE);
    await expect(panel.locator('.nbgov-panel-replan-error')).toBeHidden();
    // the new seed makes load (and what it feeds) outdated: the re-planned state shows it
    await expect(panel.locator('svg [data-task="load"]')).toHaveAttribute('data-state', 'outdated');
  } finally {
    fs.writeFileSync(spec, original);
    await panel.locator('.nbgov-panel-refresh').click();
    await expect(panel).not.toHaveAttribute('data-replanning', 'true', { timeout: 120000 });
  }
  await expect(panel.locator('svg [data-task="load"]')).toHaveAttribute('data-state', 'up-to-date');
});

test("the model's lineage as a graph: every upstream task, a click shows the metrics", async ({
  page
}) => {
  await gotoLab(page);
  // the model the example's train task writes (a product): which runs made it
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('nbgov:lineage', { target: 'products/model.txt' })
  );
  const lineage = page.locator('.nbgov-lineage[data-ready="true"]');
  await expect(lineage.locator('.nbgov-lineage-header')).toHaveText('Lineage of products/model.txt');
  for (const task of ['load', 'features', 'train']) {
    await expect(lineage.locator(`svg .nbgov-lin-node[data-task="${task}"]`)).toHaveCount(1);
  }
  await expect(lineage.locator('svg .nbgov-dag-edge')).toHaveCount(2);
  // the fixture project does not sign: no node says "signed" or "unsigned"
  await expect(lineage.locator('svg .nbgov-lin-node[data-task="train"]')).not.toContainText('signed');
  // the data each run read is on its edge: features read load's raw data (by digest)
  await expect(lineage.locator('svg .nbgov-lin-edge-label').first()).toHaveText(/^data [0-9a-f]{8}$/);
  await lineage.locator('svg .nbgov-lin-node[data-task="train"]').click();
  const details = lineage.locator('.nbgov-lin-details');
  await expect(details.locator('.nbgov-runs-header')).toHaveText('train');
  await expect(details.locator('table[data-kind="metrics"] tr[data-key="share_above"]')).toContainText(
    '0.55'
  );
  await shot(lineage, 'lineage-graph-light');
  await page.theme.setDarkTheme();
  // keyboard: another node by Enter
  await lineage.locator('svg .nbgov-lin-node[data-task="load"]').focus();
  await page.keyboard.press('Enter');
  await expect(details.locator('.nbgov-runs-header')).toHaveText('load');
  await shot(lineage, 'lineage-graph-dark');
  await page.theme.setLightTheme();
});

test('two runs of a task compared: params, metrics and the executed notebooks', async ({
  page
}) => {
  // a second run of load with another seed (the real CLI, as a user would have built it)
  execFileSync(
    'nbgov',
    ['build', '-q', '--force', 'load', '-p', 'load.seed=4', '--project', projectRoot()],
    { stdio: 'pipe', timeout: 300000 }
  );
  await gotoLab(page);
  const panel = await openPanel(page);
  await panel.locator('.nbgov-task[data-task="load"] .nbgov-task-runs').click();
  // the server's first tracking-store query imports MLflow: slow on a loaded machine
  const runs = page.locator('.nbgov-runs[data-task="load"]');
  await expect(runs.locator('.nbgov-runs-header')).toHaveText('Runs of load', { timeout: 120000 });
  const rows = runs.locator('tr.nbgov-run');
  await expect(rows).toHaveCount(2);
  // the embedded store: each run links to the MLflow UI the shown command serves
  await expect(runs.locator('.nbgov-runs-command')).toHaveText(
    /^mlflow ui --backend-store-uri sqlite:\/\/\/mlflow\.db --host 127\.0\.0\.1 --port 5000$/
  );
  await expect(rows.first().locator('a.nbgov-run-link')).toHaveAttribute(
    'href',
    /^http:\/\/127\.0\.0\.1:5000\/#\/experiments\/\d+\/runs\/[0-9a-f]+$/
  );
  await rows.nth(0).locator('.nbgov-run-pick').check();
  await rows.nth(1).locator('.nbgov-run-pick').check();
  await shot(runs, 'runs-light');
  await runs.locator('.nbgov-runs-compare').click();

  const compare = page.locator('.nbgov-compare');
  const seed = compare.locator('table[data-kind="parameters"] tr[data-key="seed"]');
  await expect(seed).toHaveAttribute('data-changed', 'true', { timeout: 60000 });
  await expect(seed.locator('.nbgov-compare-a')).toHaveText('3');
  await expect(seed.locator('.nbgov-compare-b')).toHaveText('4');
  await expect(seed.locator('.nbgov-compare-delta')).toHaveText('+1');
  // the executed notebooks in nbdime's diff: the injected seed changed, no "undefined" ids
  const diff = compare.locator('.jp-Notebook-diff');
  await expect(diff).toBeVisible();
  await expect(diff).toContainText('seed = 4');
  await expect(diff).not.toContainText('Cell ID: undefined');
  await shot(compare, 'compare-light');
  await page.theme.setDarkTheme();
  const ratio = contrast(
    await style(seed.locator('.nbgov-compare-b'), 'color'),
    await style(seed, 'background-color')
  );
  expect(ratio, 'a changed row in the dark theme').toBeGreaterThanOrEqual(4.5);
  await shot(compare, 'compare-dark');
  await page.theme.setLightTheme();
});

test('a build started and cancelled from the panel', async ({ page }) => {
  // evaluate gets a slow cell, so that its build is still running when Cancel is clicked
  const notebook = path.join(projectRoot(), 'notebooks', 'evaluate.ipynb');
  const original = fs.readFileSync(notebook, 'utf-8');
  const nb = JSON.parse(original);
  nb.cells.push({
    cell_type: 'code',
    execution_count: null,
    metadata: {},
    outputs: [],
    source: 'import time\ntime.sleep(120)'
  });
  fs.writeFileSync(notebook, JSON.stringify(nb, null, 1));
  try {
    await gotoLab(page);
    const panel = await openPanel(page);
    await panel.locator('.nbgov-task[data-task="evaluate"] .nbgov-task-build').click();
    const bar = panel.locator('.nbgov-build');
    await expect(bar).toHaveAttribute('data-state', 'running');
    // live progress, from the build's journal
    await expect(bar.locator('.nbgov-build-status')).toContainText('evaluate running', {
      timeout: 120000
    });
    await shot(panel, 'build-running');
    await bar.locator('.nbgov-build-cancel').click();
    await expect(bar).toHaveAttribute('data-state', 'cancelled', { timeout: 60000 });
    await expect(bar.locator('.nbgov-build-status')).toContainText('Build cancelled: evaluate');
    await expect(bar.locator('.nbgov-build-cancel')).toBeHidden();
  } finally {
    fs.writeFileSync(notebook, original);
  }
});
