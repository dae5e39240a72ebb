import { Widget } from '@lumino/widgets';

import { NbgovHub, serverPath } from '../hub';
import { PipelinePanel, withCode } from '../panel';
import { NbgovClient } from '../request';
import { INSTALL_HINT } from '../tokens';
import { fakeSettings, INFO } from './fakeserver';

const PIPELINE = {
  pipeline: 'pipeline.yaml',
  tasks: [
    {
      name: 'features',
      source: 'notebooks/features.ipynb',
      products: { nb: 'products/features.ipynb' },
      upstream: [],
      state: 'up-to-date',
      review: { status: 'approved', version: 'nbv1:1' },
      last_run: {
        run_id: 'r1',
        outcome: 'success',
        metrics: { rows: 150 },
        started: '2026-11-26T07:00:00Z',
        ended: '2026-11-26T07:00:02Z',
        duration_s: 2
      }
    },
    {
      name: 'train',
      source: './notebooks/train.ipynb',
      products: { nb: 'products/train.ipynb' },
      upstream: ['features'],
      state: 'never-run',
      review: { status: 'changes-requested', version: 'nbv1:2' },
      last_run: null
    }
  ]
};

function makePanel(routes: Parameters<typeof fakeSettings>[0], current: string | null = null) {
  const opened: string[] = [];
  const lineage: string[] = [];
  const hub = new NbgovHub(new NbgovClient(fakeSettings(routes)));
  const panel = new PipelinePanel({
    hub,
    open: p => opened.push(p),
    currentPath: () => current,
    showLineage: t => lineage.push(t)
  });
  Widget.attach(panel, document.body);
  return { panel, hub, opened, lineage };
}

describe('PipelinePanel', () => {
  afterEach(() => {
    document.body.replaceChildren();
  });

  it('draws the DAG and the task list with statuses and metrics', async () => {
    const { panel, opened } = makePanel(
      {
        'GET info': () => ({ status: 200, body: INFO }),
        'GET pipeline': () => ({ status: 200, body: PIPELINE })
      },
      'notebooks/train.ipynb'
    );
    await panel.refresh();
    const nodes = panel.node.querySelectorAll('svg .nbgov-dag-node');
    expect(nodes).toHaveLength(2);
    const train = panel.node.querySelector('svg [data-task="train"]')!;
    expect(train.getAttribute('data-review')).toBe('changes-requested');
    expect(train.classList.contains('nbgov-current')).toBe(true);
    const rows = panel.node.querySelectorAll('.nbgov-task');
    expect(rows[0].querySelector('.nbgov-task-run')!.textContent).toBe(
      'last run: success, 2 s — rows=150'
    );
    (rows[1].querySelector('.nbgov-task-name') as HTMLElement).click();
    expect(opened).toEqual(['notebooks/train.ipynb']);
  });

  it('offers lineage per task only when the server serves it', async () => {
    let served = false;
    const { panel, hub, lineage } = makePanel({
      'GET info': () => ({ status: 200, body: { ...INFO, lineage: served } }),
      'GET pipeline': () => ({ status: 200, body: PIPELINE })
    });
    await panel.refresh();
    expect(panel.node.querySelectorAll('.nbgov-task-lineage')).toHaveLength(0);
    served = true;
    await hub.client.info(true);
    await panel.refresh();
    const buttons = panel.node.querySelectorAll<HTMLButtonElement>('.nbgov-task-lineage');
    expect(buttons).toHaveLength(2);
    buttons[1].click();
    expect(lineage).toEqual(['train']);
  });

  it('shows a function task by its module and function, and the hints, as text', async () => {
    const { panel, opened } = makePanel({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET pipeline': () => ({
        status: 200,
        body: {
          pipeline: 'pipeline.yaml',
          plan: 'current',
          hints: ['<i>2</i> task(s) have products but no record: run `nbgov build --force`'],
          tasks: [
            {
              ...PIPELINE.tasks[0],
              name: 'get',
              kind: 'function',
              source: 'tasks/raw.py',
              function: 'tasks.raw.get<img src=x>'
            },
            { ...PIPELINE.tasks[1], name: 'fit-0', kind: 'script', group: 'fit' }
          ]
        }
      })
    });
    await panel.refresh();
    const rows = panel.node.querySelectorAll('.nbgov-task');
    expect(rows[0].querySelector('.nbgov-task-path')!.textContent).toBe('tasks/raw.py');
    expect(rows[0].querySelector('.nbgov-task-function')!.textContent).toBe(
      'tasks.raw.get<img src=x>'
    );
    expect(rows[0].querySelector('.nbgov-kind')!.textContent).toBe('function');
    expect(rows[0].querySelector('img')).toBeNull();
    expect(rows[1].querySelector('.nbgov-task-function')).toBeNull();
    expect(rows[1].querySelector('.nbgov-kind')!.textContent).toBe('script');
    const name = rows[0].querySelector('.nbgov-task-name') as HTMLAnchorElement;
    expect(name.title).toBe('open tasks/raw.py (defines tasks.raw.get<img src=x>)');
    name.click();
    expect(opened).toEqual(['tasks/raw.py']);
    const hints = panel.node.querySelectorAll('.nbgov-panel-hint');
    expect(hints).toHaveLength(1);
    expect(hints[0].textContent).toBe(
      '<i>2</i> task(s) have products but no record: run `nbgov build --force`'
    );
    expect(hints[0].querySelector('i')).toBeNull();
  });

  it('shows no banner and no "not synced" chip when every run is in the store', async () => {
    const { panel } = makePanel({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET pipeline': () => ({
        status: 200,
        body: {
          ...PIPELINE,
          unsynced: 0,
          tasks: [
            { ...PIPELINE.tasks[0], last_run: { ...PIPELINE.tasks[0].last_run, synced: true } },
            PIPELINE.tasks[1]
          ]
        }
      })
    });
    await panel.refresh();
    const banner = panel.node.querySelector<HTMLElement>('.nbgov-panel-unsynced')!;
    expect(banner.hidden).toBe(true);
    expect(banner.textContent).toBe('');
    expect(panel.node.querySelectorAll('.nbgov-unsynced')).toHaveLength(0);
    expect(panel.node.querySelector('[data-synced]')).toBeNull();
  });

  it('says how many runs are kept locally and marks each task whose last run is', async () => {
    let body: any = {
      ...PIPELINE,
      unsynced: 2,
      tasks: [
        {
          ...PIPELINE.tasks[0],
          last_run: { ...PIPELINE.tasks[0].last_run, run_id: null, synced: false }
        },
        {
          ...PIPELINE.tasks[1],
          name: 'train<img src=x onerror="window.pwned=1">',
          state: 'up-to-date',
          last_run: { ...PIPELINE.tasks[0].last_run, run_id: null, synced: false }
        },
        {
          ...PIPELINE.tasks[1],
          name: 'evaluate',
          last_run: { ...PIPELINE.tasks[0].last_run, synced: true }
        }
      ]
    };
    const { panel, hub } = makePanel({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET pipeline': () => ({ status: 200, body })
    });
    await panel.refresh();
    const banner = panel.node.querySelector<HTMLElement>('.nbgov-panel-unsynced')!;
    expect(banner.hidden).toBe(false);
    expect(banner.textContent).toBe(
      '2 runs kept locally, not yet in the tracking store — run nbgov sync'
    );
    expect(banner.querySelector('code')!.textContent).toBe('nbgov sync');
    expect(banner.title).toContain('.nbgov/journal');
    const rows = panel.node.querySelectorAll<HTMLElement>('.nbgov-task');
    const chips = Array.from(rows).map(row => row.querySelector('.nbgov-chip.nbgov-unsynced'));
    expect(chips.map(chip => chip?.textContent ?? null)).toEqual(['not synced', 'not synced', null]);
    expect(chips[0]!.getAttribute('title')).toContain('nbgov sync');
    expect(rows[0].dataset.synced).toBe('false');
    expect(rows[2].dataset.synced).toBeUndefined();
    // the run line is unchanged; the task name from the server stays text
    expect(rows[0].querySelector('.nbgov-task-run')!.textContent).toBe(
      'last run: success, 2 s — rows=150'
    );
    expect(panel.node.querySelector('img')).toBeNull();
    expect((window as any).pwned).toBeUndefined();
    expect(panel.node.querySelectorAll('svg [data-synced="false"]')).toHaveLength(2);

    // after `nbgov sync` the next refresh drops the banner and the chips
    body = {
      ...body,
      unsynced: 0,
      tasks: body.tasks.map((t: any) => ({
        ...t,
        last_run: { ...t.last_run, run_id: 'r', synced: true }
      }))
    };
    hub.notify(null);
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(banner.hidden).toBe(true);
    expect(panel.node.querySelectorAll('.nbgov-unsynced')).toHaveLength(0);
  });

  it('says how to install the server extension when it is missing', async () => {
    const { panel } = makePanel({});
    await panel.refresh();
    const message = panel.node.querySelector('.nbgov-panel-message')!;
    expect(message.textContent).toBe(INSTALL_HINT);
    expect(message.classList.contains('nbgov-missing')).toBe(true);
    expect(panel.node.querySelector('svg')).toBeNull();
  });

  it('shows a server error message as text', async () => {
    const { panel } = makePanel({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET pipeline': () => ({
        status: 400,
        body: { error: 'PipelineError', message: '<b>bad</b> pipeline.yaml', hint: 'fix it' }
      })
    });
    await panel.refresh();
    const message = panel.node.querySelector('.nbgov-panel-message')!;
    expect(message.textContent).toBe('<b>bad</b> pipeline.yaml\nhint: fix it');
    expect(message.querySelector('b')).toBeNull();
  });

  it('redraws on a hub notification', async () => {
    let calls = 0;
    const { panel, hub } = makePanel({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET pipeline': () => {
        calls++;
        return { status: 200, body: PIPELINE };
      }
    });
    await panel.refresh();
    hub.notify(null);
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(calls).toBe(2);
    // hidden: nothing fetched until it is shown again
    panel.hide();
    hub.notify(null);
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(calls).toBe(2);
    panel.show();
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(calls).toBe(3);
  });
});

describe('withCode', () => {
  it('makes the parts between backticks code, and everything text', () => {
    const box = document.createElement('div');
    box.append(...withCode('run `nbgov sync` or `<b>x</b>` now'));
    expect(box.textContent).toBe('run nbgov sync or <b>x</b> now');
    expect(Array.from(box.querySelectorAll('code')).map(c => c.textContent)).toEqual([
      'nbgov sync',
      '<b>x</b>'
    ]);
    expect(box.querySelector('b')).toBeNull();
    expect(withCode('')).toEqual([]);
  });
});

describe('serverPath', () => {
  it('drops drive prefixes and leading slashes', () => {
    expect(serverPath('RTC:notebooks/a.ipynb')).toBe('notebooks/a.ipynb');
    expect(serverPath('/notebooks/a.ipynb')).toBe('notebooks/a.ipynb');
    expect(serverPath('notebooks/a:b.ipynb')).toBe('notebooks/a:b.ipynb');
  });

  it('Refresh re-plans on the server, then fetches the pipeline: the stale hint goes', async () => {
    const STALE = 'the pipeline changed since its plan was written: run `nbgov status` to refresh it';
    let planned = false;
    const calls: any[] = [];
    const hub = new NbgovHub(
      new NbgovClient(
        fakeSettings(
          {
            'GET info': () => ({ status: 200, body: INFO }),
            'POST plan': () => {
              planned = true;
              return { status: 200, body: { plan: 'current', pipeline: 'pipeline.yaml' } };
            },
            'GET pipeline': () => ({
              status: 200,
              body: planned
                ? { ...PIPELINE, plan: 'current', hints: [] }
                : { ...PIPELINE, plan: 'stale', hints: [STALE] }
            })
          },
          calls
        )
      )
    );
    const panel = new PipelinePanel({ hub, open: () => undefined, currentPath: () => null });
    Widget.attach(panel, document.body);
    await panel.refresh();
    expect(panel.node.querySelector('.nbgov-panel-hints')!.textContent).toContain('nbgov status');
    const button = panel.node.querySelector('.nbgov-panel-refresh') as HTMLButtonElement;
    expect(button.title).toContain('nbgov status');
    await panel.replan();
    expect(calls.filter(c => c.method === 'POST').map(c => c.url.pathname)).toEqual([
      '/lab-base/nbgov/api/plan'
    ]);
    expect(panel.node.querySelector('.nbgov-panel-hints')!.textContent).toBe('');
    expect(panel.pipeline!.plan).toBe('current');
    // one GET pipeline after the POST, not two (the hub's signal does not refetch the panel)
    const after = calls.slice(calls.findIndex(c => c.method === 'POST'));
    expect(after.filter(c => c.url.pathname.endsWith('/pipeline'))).toHaveLength(1);
  });

  it('shows why a re-plan failed, as text, until one succeeds', async () => {
    let fail = true;
    const { panel } = makePanel({
      'GET info': () => ({ status: 200, body: INFO }),
      'POST plan': () =>
        fail
          ? {
              status: 400,
              body: {
                error: 'PipelineError',
                message: '`nbgov status` failed: <b>nope.ipynb</b> not found',
                where: null,
                hint: null
              }
            }
          : { status: 200, body: { plan: 'current', pipeline: 'pipeline.yaml' } },
      'GET pipeline': () => ({ status: 200, body: PIPELINE })
    });
    await panel.replan();
    const error = panel.node.querySelector('.nbgov-panel-replan-error') as HTMLElement;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toContain('<b>nope.ipynb</b> not found');
    expect(error.querySelector('b')).toBeNull();
    expect(panel.node.querySelectorAll('.nbgov-task')).toHaveLength(2); // the last plan still shows
    fail = false;
    await panel.replan();
    expect(error.hidden).toBe(true);
  });

  it('wraps a task path between folders, not inside names', async () => {
    const { panel } = makePanel({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET pipeline': () => ({ status: 200, body: PIPELINE })
    });
    await panel.refresh();
    const path = panel.node.querySelector('.nbgov-task-path')!;
    expect(path.textContent).toBe('notebooks/features.ipynb');
    expect(path.querySelectorAll('wbr')).toHaveLength(1);
  });
});
