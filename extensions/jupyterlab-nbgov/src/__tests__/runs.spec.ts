import { compareRows, orderPair, RunsView, safeUrl } from '../runs';
import { IRun, IRunsPayload } from '../tokens';

function run(id: string, started: string, extra: Partial<IRun> = {}): IRun {
  return {
    id,
    run_id: id.startsWith('local:') ? null : id,
    synced: !id.startsWith('local:'),
    outcome: 'succeeded',
    started,
    ended: null,
    duration_s: 1,
    params: {},
    metrics: {},
    notebook_version: 'nbv1:abcdef0123456789',
    review_status: 'approved',
    build_id: 'b1',
    url: id.startsWith('local:') ? null : `http://127.0.0.1:5000/#/experiments/1/runs/${id}`,
    ...extra
  };
}

describe('compareRows', () => {
  it('lists each key of either run once, sorted, marking what differs', () => {
    const rows = compareRows(
      { seed: '3', lr: '0.1', same: 'x', only_a: 1 },
      { seed: '4', lr: '0.10', same: 'x', only_b: true }
    );
    expect(rows.map(r => r.key)).toEqual(['lr', 'only_a', 'only_b', 'same', 'seed']);
    const by = Object.fromEntries(rows.map(r => [r.key, r]));
    expect(by.seed).toMatchObject({ a: '3', b: '4', changed: true, delta: 1 });
    // MLflow keeps params as text: "0.1" and "0.10" are the same number
    expect(by.lr.changed).toBe(false);
    expect(by.same).toMatchObject({ changed: false, delta: null });
    expect(by.only_a).toMatchObject({ a: '1', b: '—', changed: true, delta: null });
    expect(by.only_b).toMatchObject({ a: '—', b: 'true', changed: true });
  });

  it('gives metric differences as numbers, and compares text as text', () => {
    const rows = compareRows({ accuracy: 0.9, label: 'a' }, { accuracy: 0.95, label: 'b' });
    expect(rows[0]).toMatchObject({ key: 'accuracy', changed: true, delta: 0.05 });
    expect(rows[1]).toMatchObject({ key: 'label', changed: true, delta: null });
  });

  it('never reads inherited keys', () => {
    const rows = compareRows(JSON.parse('{"__proto__": {"x": 1}}'), { toString: 'y' } as any);
    expect(rows.find(r => r.key === 'x')).toBeUndefined();
  });
});

describe('safeUrl and orderPair', () => {
  it('links only http(s) addresses', () => {
    expect(safeUrl('http://127.0.0.1:5000/#/experiments/1/runs/r')).toContain('127.0.0.1:5000');
    expect(safeUrl('https://mlflow.example.org/x')).toBe('https://mlflow.example.org/x');
    expect(safeUrl('javascript:alert(1)')).toBeNull();
    expect(safeUrl('data:text/html,x')).toBeNull();
    expect(safeUrl(null)).toBeNull();
  });

  it('puts the older run first', () => {
    const runs = [run('new', '2026-12-07T06:00:00Z'), run('old', '2026-12-06T06:00:00Z')];
    expect(orderPair(runs, ['new', 'old'])).toEqual(['old', 'new']);
    expect(orderPair(runs, ['new'])).toBeNull();
    expect(orderPair(runs, ['new', 'gone'])).toBeNull();
  });
});

describe('RunsView', () => {
  const payload: IRunsPayload = {
    task: 'train',
    runs: [
      run('local:k1', '2026-12-07T07:00:00Z', { metrics: { accuracy: 0.9 } }),
      run('r2', '2026-12-07T06:00:00Z', { url: 'javascript:alert(1)' }),
      run('r1', '2026-12-06T06:00:00Z', { review_status: '<b>x</b>' })
    ],
    ui: {
      url: 'http://127.0.0.1:5000',
      command: 'mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000'
    },
    store_error: null
  };

  it('shows each run with its link, the journal run marked, and how to start the UI', () => {
    const view = new RunsView(payload, { onCompare: () => undefined });
    const rows = view.node.querySelectorAll('tr.nbgov-run');
    expect(rows).toHaveLength(3);
    expect((rows[0] as HTMLElement).dataset.synced).toBe('false');
    expect(rows[0].textContent).toContain('not synced');
    expect(rows[0].querySelector('a')).toBeNull();
    expect(rows[1].querySelector('a')).toBeNull(); // a javascript: address is no link
    const link = rows[2].querySelector('a') as HTMLAnchorElement;
    expect(link.href).toBe('http://127.0.0.1:5000/#/experiments/1/runs/r1');
    expect(link.rel).toContain('noopener');
    expect(rows[2].querySelector('b')).toBeNull();
    expect(view.node.querySelector('.nbgov-runs-command')!.textContent).toBe(payload.ui.command);
  });

  it('compares the two runs picked, older first; a third pick replaces the first', () => {
    const compared: string[][] = [];
    const view = new RunsView(payload, { onCompare: (a, b) => compared.push([a, b]) });
    const boxes = Array.from(view.node.querySelectorAll('.nbgov-run-pick')) as HTMLInputElement[];
    const button = view.node.querySelector('.nbgov-runs-compare') as HTMLButtonElement;
    const pick = (i: number) => {
      boxes[i].checked = true;
      boxes[i].dispatchEvent(new Event('change'));
    };
    pick(0);
    expect(button.disabled).toBe(true);
    pick(1);
    expect(button.disabled).toBe(false);
    pick(2);
    expect(view.selected).toEqual(['r2', 'r1']);
    expect(boxes[0].checked).toBe(false);
    button.click();
    expect(compared).toEqual([['r1', 'r2']]);
  });
});
