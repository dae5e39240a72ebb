import { renderTree } from '../tree';

describe('renderTree', () => {
  const payload = {
    schema: 'nbgov.lineage/1',
    target: 'products/model.pkl',
    nodes: [
      { task: 'train', notebook: 'notebooks/train.ipynb', review_status: 'approved', params: { C: 1 } },
      { task: '<img src=x onerror=alert(1)>', inputs: [] }
    ],
    dirty: false
  };

  it('shows every key and value as text, containers as collapsible nodes', () => {
    const root = renderTree(payload, 'products/model.pkl');
    expect(root.tagName).toBe('DETAILS');
    expect(root.querySelector('summary')!.textContent).toBe(
      'products/model.pkl — target: products/model.pkl'
    );
    const leaves = Array.from(root.querySelectorAll('.nbgov-tree-leaf')).map(l => l.textContent);
    expect(leaves).toContain('schema: nbgov.lineage/1');
    expect(leaves).toContain('review_status: approved');
    expect(leaves).toContain('C: 1');
    expect(leaves).toContain('dirty: false');
    const summaries = Array.from(root.querySelectorAll('summary')).map(s => s.textContent);
    expect(summaries).toContain('0 — task: train');
    expect(summaries).toContain('inputs — [0]');
  });

  it('never turns text into markup', () => {
    const root = renderTree(payload);
    expect(root.querySelector('img')).toBeNull();
    expect(root.textContent).toContain('<img src=x onerror=alert(1)>');
  });

  it('opens the first two levels only', () => {
    const root = renderTree({ a: { b: { c: { d: 1 } } } });
    const nodes = Array.from(root.querySelectorAll('details')) as HTMLDetailsElement[];
    expect([root as HTMLDetailsElement, ...nodes].map(n => n.open)).toEqual([true, true, false, false]);
  });
});
