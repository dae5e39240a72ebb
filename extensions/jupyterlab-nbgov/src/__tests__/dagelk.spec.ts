import { dagGraphInput, drawDag, GEOMETRY, layoutDagElk } from '../dag';
import { task } from './taskfixture';

const DIAMOND = [task('load'), task('a', ['load']), task('b', ['load']), task('join', ['a', 'b', 'a', 'ghost'])];

describe('dagGraphInput', () => {
  it('makes the lineage graph\'s layered ELK graph, flowing down, one edge per known link', () => {
    const input = dagGraphInput(DIAMOND);
    expect(input.layoutOptions!['elk.algorithm']).toBe('layered');
    expect(input.layoutOptions!['elk.direction']).toBe('DOWN');
    expect(input.children!.map(c => [c.id, c.width, c.height])).toContainEqual([
      'join',
      GEOMETRY.nodeWidth,
      GEOMETRY.nodeHeight
    ]);
    // the repeated link once, the unknown upstream left out
    expect(input.edges!.map(e => `${e.sources[0]}->${e.targets[0]}`).sort()).toEqual([
      'a->join',
      'b->join',
      'load->a',
      'load->b'
    ]);
  });
});

describe('layoutDagElk', () => {
  it('lays the tasks out in layers, upstream above, with a routed path per edge', async () => {
    const layout = await layoutDagElk(DIAMOND);
    const at = (n: string) => layout.nodes.get(n)!;
    expect(at('load').layer).toBe(0);
    expect([at('a').layer, at('b').layer]).toEqual([1, 1]);
    expect(at('join').layer).toBe(2);
    expect(at('a').y).toBeGreaterThan(at('load').y + GEOMETRY.nodeHeight);
    expect(new Set([at('a').order, at('b').order])).toEqual(new Set([0, 1]));
    expect(layout.edges).toHaveLength(4);
    layout.edges.forEach(e => expect(e.d).toMatch(/^M [\d.]+ [\d.]+( L [\d.]+ [\d.]+)+$/));
    expect(layout.missing).toEqual(['ghost']);
    expect(layout.width).toBeGreaterThanOrEqual(2 * GEOMETRY.nodeWidth);
  });
});

describe('drawDag', () => {
  it('draws at once, then replaces the drawing with ELK\'s; the next draw uses ELK at once', async () => {
    const container = document.createElement('div');
    const tasks = [task('x'), task('y', ['x'])];
    const done = drawDag(container, tasks, { current: 'y' });
    expect(container.querySelector('svg')!.dataset.layout).toBe('layered');
    await done;
    const svg = container.querySelector('svg')!;
    expect(svg.dataset.layout).toBe('elk');
    expect(svg.querySelectorAll('.nbgov-dag-node')).toHaveLength(2);
    expect(svg.querySelector('.nbgov-dag-node.nbgov-current')!.getAttribute('data-task')).toBe('y');
    const again = document.createElement('div');
    void drawDag(again, tasks);
    expect(again.querySelector('svg')!.dataset.layout).toBe('elk');
  });

  it('leaves a newer drawing alone when ELK finishes late', async () => {
    const container = document.createElement('div');
    const done = drawDag(container, [task('p'), task('q', ['p'])]);
    const newer = document.createElement('span');
    container.replaceChildren(newer);
    await done;
    expect(container.firstChild).toBe(newer);
  });
});
