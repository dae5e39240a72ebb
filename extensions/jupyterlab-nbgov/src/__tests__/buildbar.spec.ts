import { BuildBar, describeJob } from '../buildbar';
import { NbgovClient } from '../request';
import { IBuildJob } from '../tokens';
import { fakeSettings, ICall } from './fakeserver';

function job(state: string, extra: Partial<IBuildJob> = {}): IBuildJob {
  return {
    id: 'j1',
    tasks: ['load'],
    downstream: true,
    state,
    started: 1,
    ended: null,
    returncode: null,
    message: null,
    log: '',
    progress: {},
    failures: [],
    ...extra
  };
}

describe('describeJob', () => {
  it('says what builds, how far it got, and why it stopped', () => {
    expect(describeJob(job('running', { progress: { load: 'ran', train: 'running' } }))).toBe(
      'Building: load and downstream (load ran, train running)'
    );
    expect(describeJob(job('succeeded', { tasks: [], downstream: false }))).toBe(
      'Build succeeded: the pipeline'
    );
    expect(
      describeJob(job('refused', { message: 'another nbgov build is running in this project (pid 7)' }))
    ).toBe('Build refused: load and downstream — another nbgov build is running in this project (pid 7)');
  });
});

describe('BuildBar', () => {
  it('starts a build by POST, polls until it ends, shows failures as text, then calls back', async () => {
    const calls: ICall[] = [];
    let polls = 0;
    const client = new NbgovClient(
      fakeSettings(
        {
          'POST build': () => ({ status: 202, body: job('running') }),
          'GET build': () =>
            ++polls < 2
              ? { status: 200, body: job('running', { progress: { load: 'running' } }) }
              : {
                  status: 200,
                  body: job('failed', {
                    returncode: 1,
                    log: 'Traceback <b>x</b>',
                    failures: [{ task: 'load', error: "ValueError('<img src=x>')" }],
                    progress: { load: 'failed' }
                  })
                }
        },
        calls
      )
    );
    let ended = 0;
    const bar = new BuildBar(client, () => ended++, 1);
    await bar.start(['load'], true);
    expect(calls[0].method).toBe('POST');
    expect(calls[0].body).toEqual({ tasks: ['load'], downstream: true });
    for (let i = 0; i < 50 && bar.job!.state === 'running'; i++) {
      await new Promise(r => setTimeout(r, 5));
    }
    expect(bar.node.dataset.state).toBe('failed');
    expect(ended).toBe(1);
    expect(bar.node.querySelector('.nbgov-build-failure')!.textContent).toBe("load: ValueError('<img src=x>')");
    expect(bar.node.querySelector('img')).toBeNull();
    expect(bar.node.querySelector('.nbgov-build-logtext')!.textContent).toBe('Traceback <b>x</b>');
    expect((bar.node.querySelector('.nbgov-build-cancel') as HTMLElement).hidden).toBe(true);
  });

  it('shows the server refusing a second build, and cancels by POST', async () => {
    const calls: ICall[] = [];
    const client = new NbgovClient(
      fakeSettings(
        {
          'POST build': () => ({
            status: 409,
            body: { error: 'GateError', message: 'a build started from JupyterLab is running in this project', where: null, hint: 'wait for it, or cancel it' }
          }),
          'POST build/cancel': () => ({ status: 200, body: job('cancelled', { returncode: -2 }) })
        },
        calls
      )
    );
    const bar = new BuildBar(client, () => undefined, 1);
    await bar.start([], false);
    expect(bar.node.querySelector('.nbgov-build-status')!.textContent).toContain('is running in this project');
    await bar.cancel();
    expect(calls.map(c => `${c.method} ${c.url.pathname.split('/api/')[1]}`)).toEqual([
      'POST build',
      'POST build/cancel'
    ]);
    expect(bar.node.dataset.state).toBe('cancelled');
  });
});
