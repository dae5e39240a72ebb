/**
 * Galata (Playwright) configuration: the system's Chromium (no browser download), headless,
 * one worker, against a JupyterLab started from jupyter_server_test_config.py.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.NBGOV_UI_PORT || '18888';

// the folder the server makes its project in (jupyter_server_test_config.py): set once here,
// inherited by the server and by the workers, so that a spec can find the project
if (!process.env.NBGOV_UI_TMP) {
  process.env.NBGOV_UI_TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'nbgov-ui-'));
}

// NBGOV_UI_BUILD=offline (the project built while its tracking server was down) has its own
// spec; the other passes (fresh, built) run the review round
const offline = process.env.NBGOV_UI_BUILD === 'offline';

module.exports = {
  ...baseConfig,
  // the workbench spec (themes, re-plan), the models spec and the cell threads' spec need a
  // built project: the built pass only (the one `make screenshots` runs), which keeps their CI
  // time to one pass
  testMatch: offline
    ? /unsynced\.spec\.ts$/
    : process.env.NBGOV_UI_BUILD === '1'
      ? /(nbgov|workbench|threads|models)\.spec\.ts$/
      : /nbgov\.spec\.ts$/,
  workers: 1,
  retries: 0,
  // per test: a kernel start plus a run on a loaded 2-core machine took over 90 s once
  timeout: 180000,
  // a 2-core CI machine under load answers slower than Playwright's 5 s default
  expect: { timeout: 15000 },
  reporter: [['list']],
  use: {
    ...baseConfig.use,
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    video: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  },
  webServer: {
    // the server's log goes to a file (make test-browser prints its end when a test fails)
    command: 'jupyter lab --config jupyter_server_test_config.py > jupyter-server.log 2>&1',
    url: `http://127.0.0.1:${port}/lab`,
    timeout: (process.env.NBGOV_UI_BUILD ? 300 : 120) * 1000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe'
  }
};
