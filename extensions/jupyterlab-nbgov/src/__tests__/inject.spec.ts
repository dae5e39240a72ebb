import { YNotebook } from '@jupyter/ydoc';

import { INJECTED_TAG, injectedSource, injectParameters, toPython } from '../inject';
import { ITaskContext } from '../tokens';

const CONTEXT: ITaskContext = {
  task: 'train',
  params: { n_estimators: 50, ratio: 0.25, name: 'it\'s "x"\n', flag: true, none: null, 'bad-name': 1 },
  upstream: { features: { data: 'products/features.parquet', nb: 'products/features.ipynb' } },
  product: { nb: 'products/train.ipynb', model: 'products/model.pkl' }
};

describe('toPython', () => {
  it('writes JSON values as Python literals', () => {
    expect(toPython(null)).toBe('None');
    expect(toPython(true)).toBe('True');
    expect(toPython([1, false, 'a'])).toBe('[1, False, "a"]');
    expect(toPython({ 'k"': { n: null } })).toBe('{"k\\"": {"n": None}}');
    expect(toPython('line\nbreak')).toBe('"line\\nbreak"');
  });
});

describe('injectedSource', () => {
  it('assigns params, upstream and product, skipping names Python cannot take', () => {
    const lines = injectedSource(CONTEXT).split('\n');
    expect(lines).toContain('n_estimators = 50');
    expect(lines).toContain('ratio = 0.25');
    expect(lines).toContain('name = "it\'s \\"x\\"\\n"');
    expect(lines).toContain('flag = True');
    expect(lines).toContain('none = None');
    expect(lines).toContain(
      'upstream = {"features": {"data": "products/features.parquet", "nb": "products/features.ipynb"}}'
    );
    expect(lines).toContain('product = {"nb": "products/train.ipynb", "model": "products/model.pkl"}');
    expect(lines[lines.length - 1]).toBe('# not valid Python names, left out: "bad-name"');
    expect(lines.some(l => l.startsWith('bad-name'))).toBe(false);
  });
});

describe('injectedSource with secret params', () => {
  it('leaves out the params the server masked, naming them', () => {
    const context: ITaskContext = {
      ...CONTEXT,
      params: { seed: 3, db_password: '***redacted***' },
      secret_params: ['db_password']
    };
    const lines = injectedSource(context).split('\n');
    expect(lines).toContain('seed = 3');
    expect(lines.some(l => l.includes('redacted'))).toBe(false);
    expect(lines).toContain('# secret parameters, not sent by the server (set them yourself): "db_password"');
  });
});

describe('injectParameters', () => {
  // yjs warns when ydoc fills a new cell before attaching it: upstream noise, not ours
  let warn: jest.SpyInstance;
  beforeAll(() => {
    const original = console.warn;
    warn = jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
      if (!String(args[0]).startsWith('Invalid access: Add Yjs type')) {
        original(...args);
      }
    });
  });
  afterAll(() => warn.mockRestore());

  function notebook(): YNotebook {
    const nb = YNotebook.create();
    nb.insertCell(0, { cell_type: 'markdown', source: '# Train' });
    nb.insertCell(1, { cell_type: 'code', source: 'n_estimators = 10', metadata: { tags: ['parameters'] } });
    nb.insertCell(2, { cell_type: 'code', source: 'print(n_estimators)' });
    return nb;
  }

  it('inserts one tagged cell right after the parameters cell', () => {
    const nb = notebook();
    expect(injectParameters(nb, CONTEXT)).toBe(2);
    expect(nb.cells).toHaveLength(4);
    expect(nb.cells[2].getMetadata('tags')).toEqual([INJECTED_TAG]);
    expect(nb.cells[2].source).toContain('n_estimators = 50');
    expect(nb.cells[3].source).toBe('print(n_estimators)');
  });

  it('replaces an earlier injection instead of stacking them', () => {
    const nb = notebook();
    injectParameters(nb, CONTEXT);
    injectParameters(nb, { ...CONTEXT, params: { n_estimators: 7 } });
    const injected = nb.cells.filter(c => (c.getMetadata('tags') as string[] | undefined)?.includes(INJECTED_TAG));
    expect(injected).toHaveLength(1);
    expect(injected[0].source).toContain('n_estimators = 7');
    expect(nb.cells).toHaveLength(4);
  });

  it('puts the cell first when the notebook has no parameters cell', () => {
    const nb = YNotebook.create();
    nb.insertCell(0, { cell_type: 'code', source: 'x = 1' });
    expect(injectParameters(nb, CONTEXT)).toBe(0);
    expect(nb.cells[1].source).toBe('x = 1');
  });
});
