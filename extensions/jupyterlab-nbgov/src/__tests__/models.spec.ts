import {
  aliasLine,
  gateSummary,
  IModelsPayload,
  IPromotionPlan,
  ModelsView,
  monitorLine,
  promotionOutcome
} from '../models';
import { NbgovAPIError } from '../tokens';

const URI = 'models:/clf/2';

function payload(): IModelsPayload {
  return {
    experiment: 'exp',
    alias: 'champion',
    aliases: ['champion'],
    models: [
      {
        name: 'clf',
        aliases: { champion: '1' },
        versions: [
          {
            version: '2',
            uri: URI,
            run_id: 'r2',
            aliases: [],
            gate: { accepted: false, reasons: ['notebooks/a.ipynb (task a): <b>unreviewed</b>'], checks: ['f1 = 0.93 meets >= 0.9'] },
            monitor: null
          },
          {
            version: '1',
            uri: 'models:/clf/1',
            run_id: 'r1',
            aliases: ['champion'],
            gate: { accepted: true, reasons: [], checks: [] },
            monitor: { status: 'alert', run_id: 'm1' }
          }
        ]
      }
    ],
    promotions: [],
    monitor: { status: 'ok', batch: '/x/data/batch-01.csv', at: null, reasons: [] }
  };
}

describe('gateSummary', () => {
  it('says passes, refused with the number of reasons, unjudged, or a gate error', () => {
    expect(gateSummary({ accepted: true, reasons: [], checks: [] }, 'champion')).toEqual({
      state: 'passes',
      text: 'gate passes for champion'
    });
    expect(gateSummary({ accepted: false, reasons: ['a', 'b'], checks: [] }, 'champion').text).toBe(
      'gate refuses champion: 2 reasons'
    );
    expect(gateSummary({ accepted: false, reasons: ['a'], checks: [] }, 'x').text).toBe('gate refuses x: 1 reason');
    expect(gateSummary(null, 'champion').state).toBe('unjudged');
    expect(gateSummary({ accepted: false, reasons: ['s'], checks: [], error: 'store down' }, 'c').state).toBe('error');
  });
});

describe('aliasLine and monitorLine', () => {
  it('lists aliases sorted, or says none is set', () => {
    expect(aliasLine({ name: 'm', aliases: { champion: '3', challenger: '4' }, versions: [] })).toBe(
      'challenger → v4, champion → v3'
    );
    expect(aliasLine({ name: 'm', aliases: {}, versions: [] })).toBe('no alias set');
  });

  it('names the batch file and the reasons of the last verdict', () => {
    expect(monitorLine(null)).toBeNull();
    const line = monitorLine({ status: 'alert', batch: '/a/b/batch-02.csv', at: null, reasons: ['psi_max = 0.4'] });
    expect(line).toContain('alert on batch-02.csv');
    expect(line).toContain('(psi_max = 0.4)');
  });
});

describe('promotionOutcome', () => {
  it('shows every reason of a refusal and its hint', () => {
    const refusal = new NbgovAPIError(409, 'promotion refused (2 reason(s))', 'approve them', 'GateError', ['r1', 'r2']);
    expect(promotionOutcome(URI, 'champion', refusal)).toEqual({
      ok: false,
      title: 'promotion refused (2 reason(s))',
      lines: ['r1', 'r2', 'hint: approve them']
    });
  });

  it('says where the alias points after an accepted promotion', () => {
    const plan: IPromotionPlan = {
      model: 'clf', version: '2', alias: 'champion', previous: '1', accepted: true, done: true, reasons: [], checks: ['f1 ok']
    };
    const outcome = promotionOutcome(URI, 'champion', plan);
    expect(outcome.ok).toBe(true);
    expect(outcome.title).toBe('alias champion now points at models:/clf/2 (was v1)');
    expect(outcome.lines).toEqual(['ok: f1 ok']);
  });
});

describe('ModelsView', () => {
  it('draws versions, the champion and the gate as text, and disables promoting the alias holder', () => {
    const view = new ModelsView({ load: async () => payload(), promote: async () => ({}) as IPromotionPlan });
    view.render(payload());
    const node = view.node;
    expect(node.querySelector('.nbgov-model-aliases')!.textContent).toBe('champion → v1');
    const rows = node.querySelectorAll('tr.nbgov-model-version');
    expect(rows).toHaveLength(2);
    expect(rows[1].querySelector('.nbgov-alias-champion')!.textContent).toBe('champion');
    expect((rows[0].querySelector('.nbgov-model-gate') as HTMLElement).dataset.gate).toBe('refused');
    // a reason is text, never HTML
    expect(node.querySelector('.nbgov-gate-no')!.textContent).toContain('<b>unreviewed</b>');
    expect(node.querySelector('.nbgov-gate-no b')).toBeNull();
    expect((rows[0].querySelector('.nbgov-model-promote') as HTMLButtonElement).disabled).toBe(false);
    expect((rows[1].querySelector('.nbgov-model-promote') as HTMLButtonElement).disabled).toBe(true);
    expect(node.querySelector('.nbgov-models-monitor')!.textContent).toContain('ok on batch-01.csv');
  });

  it('shows a refusal with its reasons and keeps the models drawn', async () => {
    const calls: string[] = [];
    const view = new ModelsView({
      load: async () => payload(),
      promote: async (uri, alias) => {
        calls.push(`${uri}@${alias}`);
        throw new NbgovAPIError(409, 'refused: champion', null, 'GateError', ['notebooks/a.ipynb: unreviewed']);
      }
    });
    view.render(payload());
    const outcome = await view.promote(URI, 'champion');
    expect(calls).toEqual([`${URI}@champion`]);
    expect(outcome!.ok).toBe(false);
    const result = view.node.querySelector('.nbgov-models-result') as HTMLElement;
    expect(result.hidden).toBe(false);
    expect(result.classList.contains('nbgov-promote-refused')).toBe(true);
    expect(result.textContent).toContain('notebooks/a.ipynb: unreviewed');
    expect(view.node.querySelectorAll('tr.nbgov-model-version')).toHaveLength(2);
  });

  it('asks first, and promotes nothing when the user cancels', async () => {
    let promoted = false;
    const view = new ModelsView({
      load: async () => payload(),
      promote: async () => {
        promoted = true;
        return {} as IPromotionPlan;
      },
      confirm: async () => false
    });
    expect(await view.promote(URI, 'champion')).toBeNull();
    expect(promoted).toBe(false);
  });
});
