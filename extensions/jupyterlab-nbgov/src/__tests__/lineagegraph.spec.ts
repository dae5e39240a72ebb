import { edgeLabel, ILineagePayload, layoutLineage, lineageGraphInput, nodeLines, renderLineage } from '../lineagegraph';

const payload: ILineagePayload = {
  target: { text: 'models:/iris/2', kind: 'model' },
  roots: ['model:iris/2'],
  nodes: {
    'model:iris/2': {
      key: 'model:iris/2',
      kind: 'model',
      run_id: 'rtrain',
      model: { name: 'iris', version: '2', uri: 'models:/iris/2', aliases: ['champion'] },
      upstream: ['rtrain']
    },
    rtrain: {
      key: 'rtrain',
      kind: 'task',
      task: 'train',
      run_id: 'rtrain',
      outcome: 'succeeded',
      notebook: { path: 'notebooks/train.ipynb', version: 'nbv1:0123456789abcdef', review_status: 'approved' },
      metrics: { accuracy: 0.97 },
      params: { C: 1 },
      inputs: [{ task: 'features', key: 'data', path: 'products/f.csv', digest: 'sha256:abcdef0123456789' }],
      started: '2026-12-07T06:00:00Z',
      upstream: ['rfeat']
    },
    rfeat: {
      key: 'rfeat',
      kind: 'task',
      task: '<img src=x onerror="window.pwned=1">',
      run_id: 'rfeat',
      notebook: { review_status: 'stale' },
      upstream: ['task:gone']
    }
  }
};

describe('signed or unsigned', () => {
  const signedNode = { ...payload.nodes.rtrain, notebook: { ...payload.nodes.rtrain.notebook, signed: false } };
  it('is said only where the project signs', () => {
    expect(nodeLines(signedNode)[2]).toBe('review: approved');
    expect(nodeLines(signedNode, true)[2]).toBe('review: approved · unsigned');
    expect(nodeLines({ ...signedNode, notebook: { ...signedNode.notebook, signed: true } }, true)[2]).toBe(
      'review: approved · signed'
    );
    // a run whose signature the server did not judge says nothing
    expect(nodeLines(payload.nodes.rtrain, true)[2]).toBe('review: approved');
  });

  it('is drawn on the nodes when the payload says the project signs', async () => {
    const signing = { ...payload, signing: true, nodes: { ...payload.nodes, rtrain: signedNode } };
    const root = renderLineage(await layoutLineage(signing), signing, () => undefined);
    expect(root.querySelector('[data-key="rtrain"]')!.textContent).toContain('unsigned');
    const quiet = { ...payload, nodes: { ...payload.nodes, rtrain: signedNode } };
    const plain = renderLineage(await layoutLineage(quiet), quiet, () => undefined);
    expect(plain.querySelector('[data-key="rtrain"]')!.textContent).not.toContain('signed');
  });
});

describe('lineageGraphInput', () => {
  it('makes one ELK node per run and one edge per upstream link, upstream to consumer', () => {
    const input = lineageGraphInput(payload);
    expect(input.children!.map(c => c.id).sort()).toEqual(['model:iris/2', 'rfeat', 'rtrain']);
    const pairs = input.edges!.map(e => `${e.sources[0]}->${e.targets[0]}`).sort();
    // the link to a node the payload lacks is left out, not drawn to nowhere
    expect(pairs).toEqual(['rfeat->rtrain', 'rtrain->model:iris/2']);
    expect(input.layoutOptions!['elk.algorithm']).toBe('layered');
  });

  it('labels an edge with what the run read from that upstream (key and digest)', () => {
    const train = payload.nodes.rtrain;
    expect(edgeLabel(train, { ...payload.nodes.rfeat, task: 'features' })).toBe('data abcdef01');
    expect(edgeLabel(train, payload.nodes.rfeat)).toBe('');
  });

  it('writes task, notebook version, review and time on a run, the URI on the model', () => {
    expect(nodeLines(payload.nodes.rtrain)).toEqual([
      'train',
      'notebook nbv1:0123456789ab',
      'review: approved',
      'succeeded · 2026-12-07 06:00'
    ]);
    expect(nodeLines(payload.nodes['model:iris/2'])[0]).toBe('model iris v2');
    expect(nodeLines(payload.nodes['model:iris/2'])[1]).toContain('@champion');
  });
});

describe('renderLineage', () => {
  it('lays the graph out with ELK and draws it as text, the model on top', async () => {
    const layout = await layoutLineage(payload);
    const picked: string[] = [];
    const svg = renderLineage(layout, payload, node => picked.push(node.key));
    const nodes = svg.querySelectorAll('.nbgov-lin-node');
    expect(nodes).toHaveLength(3);
    expect(svg.querySelector('img')).toBeNull();
    expect((window as any).pwned).toBeUndefined();
    const y = (key: string) =>
      Number(/translate\([^,]+, ([^)]+)\)/.exec(svg.querySelector(`[data-key="${key}"]`)!.getAttribute('transform')!)![1]);
    expect(y('model:iris/2')).toBeLessThan(y('rtrain'));
    expect(y('rtrain')).toBeLessThan(y('rfeat'));
    expect(svg.querySelectorAll('.nbgov-dag-edge')).toHaveLength(2);
    (svg.querySelector('[data-task="train"]') as SVGGElement).dispatchEvent(new MouseEvent('click'));
    (svg.querySelector('[data-key="rfeat"]') as SVGGElement).dispatchEvent(
      new KeyboardEvent('keydown', { key: 'Enter' })
    );
    expect(picked).toEqual(['rtrain', 'rfeat']);
  });
});
