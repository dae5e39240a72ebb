import { ellipsize, GEOMETRY, layoutDag, NAME_CHARS, renderDag, SUB_CHARS } from '../dag';
import { buildLabel, reviewLabel } from '../status';
import { task } from './taskfixture';

describe('layoutDag', () => {
  it('puts each task one layer below its deepest upstream', () => {
    const layout = layoutDag([
      task('evaluate', ['train', 'features']),
      task('train', ['features']),
      task('features', ['raw']),
      task('raw')
    ]);
    const layerOf = (name: string) => layout.nodes.get(name)!.layer;
    expect([layerOf('raw'), layerOf('features'), layerOf('train'), layerOf('evaluate')]).toEqual([
      0, 1, 2, 3
    ]);
    expect(layout.edges).toHaveLength(4);
    expect(layout.missing).toEqual([]);
    expect(layout.cyclic).toEqual([]);
  });

  it('places a diamond side by side without overlap and orders by upstream', () => {
    const layout = layoutDag([
      task('a'),
      task('z'),
      task('b', ['z']),
      task('c', ['a']),
      task('d', ['b', 'c'])
    ]);
    const row1 = ['b', 'c'].map(n => layout.nodes.get(n)!);
    expect(row1[0].layer).toBe(1);
    expect(row1[1].layer).toBe(1);
    // c hangs under a (order 0), b under z (order 1): barycentre puts c first
    expect(layout.nodes.get('c')!.order).toBe(0);
    expect(layout.nodes.get('b')!.order).toBe(1);
    expect(Math.abs(row1[0].x - row1[1].x)).toBeGreaterThanOrEqual(GEOMETRY.nodeWidth);
    for (const pos of layout.nodes.values()) {
      expect(pos.x).toBeGreaterThanOrEqual(0);
      expect(pos.x + GEOMETRY.nodeWidth).toBeLessThanOrEqual(layout.width);
      expect(pos.y + GEOMETRY.nodeHeight).toBeLessThanOrEqual(layout.height);
    }
  });

  it('routes an edge round the tasks in its way, and keeps it inside the drawing', () => {
    // evaluate <- features would run straight through train
    const layout = layoutDag([
      task('features'),
      task('train', ['features']),
      task('evaluate', ['train', 'features'])
    ]);
    const long = layout.edges.find(e => e.from === 'features' && e.to === 'evaluate')!;
    const short = layout.edges.find(e => e.from === 'features' && e.to === 'train')!;
    expect(long.detour).toBe(true);
    expect(short.detour).toBe(false);
    const xs = long.d.match(/-?\d+(\.\d+)?/g)!.map(Number).filter((_, i) => i % 2 === 0);
    const train = layout.nodes.get('train')!;
    expect(Math.max(...xs)).toBeGreaterThan(train.x + GEOMETRY.nodeWidth);
    expect(Math.max(...xs)).toBeLessThanOrEqual(layout.width);
  });

  it('draws a long edge straight when nothing is in its way', () => {
    // row 0: a, s1, s2; row 1: b (centred); row 2: c. The line s2 -> c passes right of b.
    const layout = layoutDag([
      task('a'),
      task('s1'),
      task('s2'),
      task('b', ['a']),
      task('c', ['b', 's2'])
    ]);
    const edge = layout.edges.find(e => e.from === 's2')!;
    expect(layout.nodes.get('c')!.layer).toBe(2);
    expect(edge.detour).toBe(false);
    expect(edge.d).not.toContain(' L ');
  });

  it('reports unknown upstream names and cycles instead of looping', () => {
    const layout = layoutDag([task('a', ['b']), task('b', ['a']), task('c', ['ghost'])]);
    expect(layout.missing).toEqual(['ghost']);
    expect(layout.cyclic).toEqual(['a', 'b']);
    expect(layout.nodes.size).toBe(3);
  });

  it('handles a long chain without recursion limits', () => {
    const tasks = Array.from({ length: 3000 }, (_, i) => task(`t${i}`, i ? [`t${i - 1}`] : []));
    const layout = layoutDag(tasks);
    expect(layout.nodes.get('t2999')!.layer).toBe(2999);
  });
});

describe('renderDag', () => {
  const tasks = [
    task('features', [], { state: 'up-to-date', review: { status: 'approved', version: 'v' } }),
    task('train', ['features'], {
      state: 'outdated',
      review: { status: 'stale', version: 'v' },
      last_run: {
        run_id: 'r1',
        outcome: 'success',
        metrics: { accuracy: 0.96 },
        started: null,
        ended: null,
        duration_s: 3
      }
    }),
    task('<img src=x onerror="window.pwned=1">', ['train'])
  ];

  it('draws one node per task with its statuses, and one path per edge', () => {
    const root = renderDag(tasks, { current: 'train' });
    const nodes = root.querySelectorAll('.nbgov-dag-node');
    expect(nodes).toHaveLength(3);
    const train = root.querySelector('[data-task="train"]')!;
    expect(train.getAttribute('class')).toContain('nbgov-review-stale');
    expect(train.getAttribute('class')).toContain('nbgov-build-outdated');
    expect(train.classList.contains('nbgov-current')).toBe(true);
    expect(train.querySelector('.nbgov-dag-build')!.textContent).toBe('build: outdated');
    expect(train.querySelector('.nbgov-dag-review')!.textContent).toBe('review: stale');
    expect(train.querySelector('title')!.textContent).toContain('last run: accuracy=0.96');
    expect(root.querySelectorAll('.nbgov-dag-edge')).toHaveLength(2);
  });

  it('fits every build state and review status in a node without cutting it', () => {
    const states = ['up-to-date', 'outdated', 'failed', 'never-run'];
    const reviews = ['approved', 'stale', 'changes-requested', 'unreviewed'];
    const root = renderDag(
      states.map((state, i) => ({
        ...task(`t${i}`),
        state: state as any,
        review: { status: reviews[i] as any, version: 'v' }
      }))
    );
    const lines = Array.from(root.querySelectorAll('.nbgov-dag-sub')).map(n => n.textContent);
    expect(lines).toContain('review: changes requested');
    expect(lines).toContain(`build: ${buildLabel('never-run')}`);
    for (const line of lines) {
      expect(line!.endsWith('…')).toBe(false);
      expect(line!.length).toBeLessThanOrEqual(SUB_CHARS);
    }
    // ~6.5 px a character at 12 px: the longest line stays inside the box
    expect(SUB_CHARS * 6.5 + 10).toBeLessThanOrEqual(GEOMETRY.nodeWidth);
    expect(reviewLabel('changes-requested')).toBe('changes requested');
  });

  it('is drawn at its own size, never shrunk to the sidebar', () => {
    const root = renderDag([task('a'), task('b'), task('c')]);
    expect(Number(root.getAttribute('width'))).toBeGreaterThanOrEqual(3 * GEOMETRY.nodeWidth);
    expect(root.style.maxWidth).toBe('');
  });

  it('renders task names as text, never as markup', () => {
    const root = renderDag(tasks);
    expect(root.querySelector('img')).toBeNull();
    const names = Array.from(root.querySelectorAll('.nbgov-dag-name')).map(n => n.textContent);
    expect(names).toContain(ellipsize('<img src=x onerror="window.pwned=1">', NAME_CHARS));
    expect((window as any).pwned).toBeUndefined();
  });

  it('marks a task whose last run is not synced, and only that one', () => {
    const run = tasks[1].last_run!;
    const root = renderDag([
      tasks[0],
      { ...tasks[1], last_run: { ...run, run_id: null, synced: false } },
      { ...tasks[2], last_run: { ...run, synced: true } }
    ]);
    const train = root.querySelector('[data-task="train"]')!;
    expect(train.getAttribute('data-synced')).toBe('false');
    expect(train.classList.contains('nbgov-unsynced')).toBe(true);
    expect(train.querySelector('title')!.textContent).toContain(
      'last run not synced: kept locally, `nbgov sync` sends it'
    );
    expect(root.querySelectorAll('.nbgov-unsynced')).toHaveLength(1);
    const synced = root.querySelector('[data-task^="<img"]')!;
    expect(synced.hasAttribute('data-synced')).toBe(false);
    expect(synced.querySelector('title')!.textContent).not.toContain('not synced');
  });

  it('calls onOpen with the clicked task', () => {
    const opened: string[] = [];
    const root = renderDag(tasks, { onOpen: t => opened.push(t.source) });
    (root.querySelector('[data-task="features"]') as SVGGElement).dispatchEvent(
      new MouseEvent('click', { bubbles: true })
    );
    expect(opened).toEqual(['notebooks/features.ipynb']);
  });
});
