import { NbgovClient, requestAPI } from '../request';
import { INSTALL_HINT, NbgovAPIError } from '../tokens';
import { fakeSettings, ICall, INFO } from './fakeserver';

/** The NbgovAPIError a call rejects with (fails the test if it resolves). */
async function failure(call: Promise<unknown>): Promise<NbgovAPIError> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(NbgovAPIError);
    return error as NbgovAPIError;
  }
  throw new Error('the call did not fail');
}

const REVIEW = {
  path: 'notebooks/a b&c.ipynb',
  status: 'unreviewed',
  version: 'nbv1:abc',
  approved_version: null,
  last: null,
  task: 'features'
};

describe('requestAPI', () => {
  it('joins the base URL, sends the token and decodes JSON', async () => {
    const calls: ICall[] = [];
    const settings = fakeSettings({ 'GET info': () => ({ status: 200, body: INFO }) }, calls);
    const info = await requestAPI<typeof INFO>('info', {}, settings);
    expect(info).toEqual(INFO);
    expect(calls).toHaveLength(1);
    expect(calls[0].url.pathname).toBe('/lab-base/nbgov/api/info');
  });

  it('turns an HTML 404 into "server extension not installed"', async () => {
    const settings = fakeSettings({});
    const error = await failure(requestAPI('info', {}, settings));
    expect(error).toBeInstanceOf(NbgovAPIError);
    expect(error.status).toBe(404);
    expect(error.missingServer).toBe(true);
    expect(error.message).toBe(INSTALL_HINT);
  });

  it("keeps the server's message, hint and error class of a JSON error", async () => {
    const settings = fakeSettings({
      'POST review': () => ({
        status: 409,
        body: {
          error: 'ReviewError',
          message: 'four-eyes rule: Ada Author wrote this version and cannot approve it',
          where: { path: 'nb.ipynb', cell: null, line: null },
          hint: 'ask another reviewer'
        }
      })
    });
    const error = await failure(requestAPI('review', { method: 'POST', body: '{}' }, settings));
    expect(error.status).toBe(409);
    expect(error.kind).toBe('ReviewError');
    expect(error.missingServer).toBe(false);
    expect(error.describe()).toBe(
      'four-eyes rule: Ada Author wrote this version and cannot approve it\nhint: ask another reviewer'
    );
  });

  it('a JSON 404 of nbgov (e.g. unknown notebook) is not a missing server', async () => {
    const settings = fakeSettings({
      'GET review': () => ({
        status: 404,
        body: { error: 'NotebookError', message: 'no such notebook: x.ipynb', hint: null }
      })
    });
    const error = await failure(requestAPI('review?path=x.ipynb', {}, settings));
    expect(error.missingServer).toBe(false);
    expect(error.message).toBe('no such notebook: x.ipynb');
  });

  it('reports a non-JSON success body instead of returning garbage', async () => {
    const settings = fakeSettings({ 'GET info': () => ({ status: 200, body: null, text: '<p>' }) });
    await expect(requestAPI('info', {}, settings)).rejects.toThrow(/non-JSON/);
  });
});

describe('NbgovClient', () => {
  it('encodes paths in the query string', async () => {
    const calls: ICall[] = [];
    const client = new NbgovClient(
      fakeSettings({ 'GET review': () => ({ status: 200, body: REVIEW }) }, calls)
    );
    const state = await client.review('notebooks/a b&c.ipynb');
    expect(state.task).toBe('features');
    expect(calls[0].url.searchParams.get('path')).toBe('notebooks/a b&c.ipynb');
  });

  it('posts a decision as JSON', async () => {
    const calls: ICall[] = [];
    const client = new NbgovClient(
      fakeSettings(
        { 'POST review': call => ({ status: 201, body: { ...REVIEW, status: 'approved', path: call.body.path } }) },
        calls
      )
    );
    const state = await client.decide('nb.ipynb', 'approved', 'looks good');
    expect(state.status).toBe('approved');
    expect(calls[0].method).toBe('POST');
    expect(calls[0].body).toEqual({ path: 'nb.ipynb', decision: 'approved', note: 'looks good' });
  });

  it('asks the diff route with outputs=0|1', async () => {
    const calls: ICall[] = [];
    const client = new NbgovClient(
      fakeSettings({ 'GET diff': () => ({ status: 200, body: { diff: [] } }) }, calls)
    );
    await client.diff('nb.ipynb');
    await client.diff('nb.ipynb', true);
    expect(calls.map(c => c.url.searchParams.get('outputs'))).toEqual(['0', '1']);
  });

  it('caches info, and forgets a failure so that a later call retries', async () => {
    const calls: ICall[] = [];
    let installed = false;
    const client = new NbgovClient(
      fakeSettings(
        {
          'GET info': () =>
            installed ? { status: 200, body: INFO } : { status: 404, body: { error: 'x' } }
        },
        calls
      )
    );
    const first = await failure(client.info());
    // even a JSON 404 on /info means the routes are not nbgov's
    expect(first.missingServer).toBe(true);
    installed = true;
    expect(await client.info()).toEqual(INFO);
    expect(await client.info()).toEqual(INFO);
    expect(calls).toHaveLength(2);
  });
});

describe('NbgovClient.promote', () => {
  it('POSTs the model and alias, and a refusal carries every reason of the gate (text only)', async () => {
    const calls: ICall[] = [];
    const settings = fakeSettings(
      {
        'POST models/promote': () => ({
          status: 409,
          body: {
            error: 'GateError',
            message: "promotion of models:/m/2 to 'champion' refused (2 reason(s))",
            where: null,
            hint: 'approve the notebooks',
            reasons: ['notebooks/a.ipynb (task a) at version 1234: unreviewed', 7, 'f1 = 0.5, needs >= 0.9'],
            accepted: false
          }
        })
      },
      calls
    );
    const error = await failure(new NbgovClient(settings).promote('models:/m/2', 'champion'));
    expect(error.status).toBe(409);
    expect(error.kind).toBe('GateError');
    expect(error.reasons).toEqual([
      'notebooks/a.ipynb (task a) at version 1234: unreviewed',
      'f1 = 0.5, needs >= 0.9'
    ]);
    expect(calls[0].url.pathname).toBe('/lab-base/nbgov/api/models/promote');
    expect(calls[0].body).toEqual({ model: 'models:/m/2', alias: 'champion', note: '' });
  });
});
