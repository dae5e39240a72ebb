import { Signal } from '@lumino/signaling';

import { ReviewBadge } from '../badge';
import { NbgovHub } from '../hub';
import { NbgovClient } from '../request';
import { INSTALL_HINT } from '../tokens';
import { fakeSettings, INFO } from './fakeserver';

/** The part of a document context the badge uses. */
class FakeContext {
  constructor(public path: string) {}
  saveState = new Signal<this, string>(this);
  pathChanged = new Signal<this, string>(this);
  ready = Promise.resolve();
}

const settle = () => new Promise(resolve => setTimeout(resolve, 20));

function state(status: string, note: string | null = null) {
  return {
    path: 'notebooks/train.ipynb',
    status,
    version: 'nbv1:0123456789abcdef',
    approved_version: status === 'unreviewed' ? null : 'nbv1:0123456789abcdef',
    last:
      status === 'unreviewed'
        ? null
        : { decision: 'approved', reviewer: 'Rita <r@x>', at: '2026-11-26T07:30:00Z', note, version: 'v' },
    task: 'train'
  };
}

function makeBadge(routes: Parameters<typeof fakeSettings>[0], path = 'notebooks/train.ipynb') {
  const hub = new NbgovHub(new NbgovClient(fakeSettings(routes)));
  const context = new FakeContext(path);
  const badge = new ReviewBadge(hub, context as any);
  return { badge, hub, context };
}

describe('ReviewBadge', () => {
  it('shows the status with its colour class and the details on hover', async () => {
    const { badge } = makeBadge({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET review': () => ({ status: 200, body: state('approved', '<script>x</script>') })
    });
    await settle();
    expect(badge.node.textContent).toBe('approved');
    expect(badge.node.classList.contains('nbgov-review-approved')).toBe(true);
    expect(badge.node.title).toContain('last decision: approved by Rita <r@x> at 2026-11-26 07:30');
    expect(badge.node.title).toContain('note: <script>x</script>');
    expect(badge.node.querySelector('script')).toBeNull();
  });

  it('says how to install the server extension when it is missing', async () => {
    const { badge } = makeBadge({});
    await settle();
    expect(badge.node.textContent).toBe('nbgov: not installed');
    expect(badge.node.title).toBe(INSTALL_HINT);
    expect(badge.node.classList.contains('nbgov-review-missing')).toBe(true);
  });

  it('asks again after a save, and swaps the colour class', async () => {
    let current = 'approved';
    const { badge, context } = makeBadge({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET review': () => ({ status: 200, body: state(current) })
    });
    await settle();
    current = 'stale';
    context.saveState.emit('completed');
    await settle();
    expect(badge.node.textContent).toBe('stale');
    expect(badge.node.classList.contains('nbgov-review-stale')).toBe(true);
    expect(badge.node.classList.contains('nbgov-review-approved')).toBe(false);
  });

  it('paints a decision the hub reports for its path, and ignores other paths', async () => {
    const { badge, hub } = makeBadge({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET review': () => ({ status: 200, body: state('unreviewed') })
    });
    await settle();
    hub.update({ ...state('changes-requested'), path: 'notebooks/other.ipynb' } as any);
    expect(badge.node.textContent).toBe('unreviewed');
    hub.update(state('changes-requested') as any);
    expect(badge.node.textContent).toBe('changes requested');
  });

  it('shows a server error as text', async () => {
    const { badge } = makeBadge({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET review': () => ({
        status: 400,
        body: { error: 'NotebookError', message: 'not a notebook: <b>x</b>', hint: null }
      })
    });
    await settle();
    expect(badge.node.textContent).toBe('nbgov: n/a');
    expect(badge.node.title).toBe('not a notebook: <b>x</b>');
  });
});

describe('ReviewBadge signatures', () => {
  function signed(signature: string | undefined) {
    const body: any = state('approved', null);
    if (signature !== undefined) {
      body.last.signature = signature;
    }
    return body;
  }

  it.each([
    ['valid', 'approved · signed', 'true'],
    ['unsigned', 'approved · unsigned', 'false'],
    ['invalid', 'approved · bad signature', 'false'],
    ['unknown key', 'approved · unknown signer', 'false'],
    ['<img src=x onerror=alert(1)>', 'approved · unsigned', 'false']
  ])('shows a %s signature as text', async (signature, text, flag) => {
    const { badge } = makeBadge({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET review': () => ({ status: 200, body: signed(signature) })
    });
    await settle();
    expect(badge.node.textContent).toBe(text);
    expect(badge.node.dataset.signed).toBe(flag);
    expect(badge.node.querySelector('img')).toBeNull();
    expect(badge.node.title).toContain(`signature: ${signature}`);
  });

  it.each([
    [false, 'unsigned', 'approved'],
    [false, 'valid', 'approved · signed'],
    [false, 'invalid', 'approved · bad signature'],
    [true, 'unsigned', 'approved · unsigned']
  ])('where signing is %s, shows a %s record as %s', async (signing, signature, text) => {
    const { badge } = makeBadge({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET review': () => ({ status: 200, body: { ...signed(signature), signing } })
    });
    await settle();
    expect(badge.node.textContent).toBe(text);
  });

  it('says nothing about signatures to a server that does not report them', async () => {
    const { badge } = makeBadge({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET review': () => ({ status: 200, body: signed(undefined) })
    });
    await settle();
    expect(badge.node.textContent).toBe('approved');
    expect(badge.node.dataset.signed).toBeUndefined();
  });
});

describe('ReviewBadge runs not yet synced', () => {
  // undefined: the field is absent, as from a server older than the journal
  const withRun = (synced: boolean | null | undefined) =>
    synced === undefined ? state('unreviewed') : { ...state('unreviewed'), last_run_synced: synced };

  /** A painted badge whose server answers each `GET review` with `synced()`'s state. */
  async function badgeFor(synced: () => boolean | null | undefined) {
    const made = makeBadge({
      'GET info': () => ({ status: 200, body: INFO }),
      'GET review': () => ({ status: 200, body: withRun(synced()) })
    });
    await settle();
    return made;
  }

  it('says "not synced" while the task\'s last run is kept locally, and how to send it', async () => {
    const { badge } = await badgeFor(() => false);
    expect(badge.node.textContent).toBe('unreviewed · not synced');
    expect(badge.node.querySelector('.nbgov-badge-sync')!.textContent).toBe(' · not synced');
    expect(badge.node.dataset.synced).toBe('false');
    expect(badge.node.title).toContain('last run: This run is kept in the local journal (.nbgov/journal)');
    expect(badge.node.title).toContain('`nbgov sync`');
    expect(badge.node.children).toHaveLength(3); // label, signature, sync: spans of text only
  });

  it.each([
    ['synced', true],
    ['without a run', null],
    ['from an older server', undefined]
  ])('says nothing about syncing %s', async (_, synced) => {
    const { badge } = await badgeFor(() => synced);
    expect(badge.node.textContent).toBe('unreviewed');
    expect(badge.node.dataset.synced).toBeUndefined();
    expect(badge.node.title).not.toContain('not yet in the tracking store');
  });

  it('drops "not synced" once a refresh finds the run in the store', async () => {
    let synced = false;
    const { badge, hub } = await badgeFor(() => synced);
    expect(badge.node.textContent).toBe('unreviewed · not synced');
    synced = true;
    hub.notify(null); // what the Pipeline panel's Refresh does
    await settle();
    expect(badge.node.textContent).toBe('unreviewed');
    expect(badge.node.dataset.synced).toBeUndefined();
  });
});
