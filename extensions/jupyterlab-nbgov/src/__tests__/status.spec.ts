import {
  buildClass,
  formatDuration,
  formatMetric,
  isUnsynced,
  metricsSummary,
  pathNodes,
  reviewClass,
  reviewLabel,
  reviewTooltip,
  shortVersion,
  unsyncedBanner
} from '../status';
import { IReviewState } from '../tokens';

describe('status wording', () => {
  it('labels review statuses and passes unknown ones through', () => {
    expect(reviewLabel('changes-requested')).toBe('changes requested');
    expect(reviewLabel('approved')).toBe('approved');
    expect(reviewLabel('weird')).toBe('weird');
  });

  it('makes CSS classes only from known values', () => {
    expect(reviewClass('stale')).toBe('nbgov-review-stale');
    expect(reviewClass('x" onload="alert(1)')).toBe('nbgov-review-unknown');
    expect(buildClass('never-run')).toBe('nbgov-build-never-run');
    expect(buildClass('constructor')).toBe('nbgov-build-unknown');
  });

  it('shortens versions after their scheme', () => {
    expect(shortVersion('nbv1:0123456789abcdef0123')).toBe('nbv1:0123456789ab');
    expect(shortVersion(null)).toBe('—');
  });

  it('formats metrics and durations', () => {
    expect(formatMetric(0.966666666)).toBe('0.9667');
    expect(formatMetric(120)).toBe('120');
    expect(formatMetric(null)).toBe('—');
    expect(
      metricsSummary({
        run_id: 'r',
        outcome: 'success',
        metrics: { f1: 0.5, acc: 0.91234 },
        started: null,
        ended: null,
        duration_s: 1
      })
    ).toBe('acc=0.9123, f1=0.5');
    expect(metricsSummary(null)).toBe('');
    expect(formatDuration(2.345)).toBe('2.3 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
  });
});

describe('reviewTooltip', () => {
  const base: IReviewState = {
    path: 'nb.ipynb',
    status: 'stale',
    version: 'nbv1:ffffffffffffffffffff',
    approved_version: 'nbv1:aaaaaaaaaaaaaaaaaaaa',
    last: {
      decision: 'approved',
      reviewer: 'bob',
      at: '2026-11-26T07:30:12+00:00',
      note: 'ok <b>bold</b>',
      version: 'nbv1:aaaaaaaaaaaaaaaaaaaa'
    },
    task: 'train'
  };

  it('says version, last decision, by whom and when', () => {
    expect(reviewTooltip(base).split('\n')).toEqual([
      'nbgov review: stale',
      'version: nbv1:ffffffffffff',
      'approved version: nbv1:aaaaaaaaaaaa',
      'last decision: approved by bob at 2026-11-26 07:30',
      'note: ok <b>bold</b>',
      'pipeline task: train'
    ]);
  });

  it('says when there is no decision yet', () => {
    const text = reviewTooltip({ ...base, status: 'unreviewed', approved_version: null, last: null, task: null });
    expect(text).toBe('nbgov review: unreviewed\nversion: nbv1:ffffffffffff\nlast decision: none yet');
  });
});

describe('runs not yet synced', () => {
  it('words the banner by count, and says nothing for none or a non-count', () => {
    expect(unsyncedBanner(3)).toBe(
      '3 runs kept locally, not yet in the tracking store — run `nbgov sync`'
    );
    expect(unsyncedBanner(1)).toBe(
      '1 run kept locally, not yet in the tracking store — run `nbgov sync`'
    );
    for (const none of [0, -1, undefined, null, '2', NaN, Infinity]) {
      expect(unsyncedBanner(none)).toBe('');
    }
  });

  it('calls a run unsynced only when the server says synced: false', () => {
    const run = {
      run_id: null,
      outcome: 'succeeded',
      metrics: {},
      started: null,
      ended: null,
      duration_s: 1
    };
    expect(isUnsynced({ ...run, synced: false })).toBe(true);
    expect(isUnsynced({ ...run, run_id: 'r1', synced: true })).toBe(false);
    expect(isUnsynced({ ...run, run_id: 'r1' })).toBe(false); // an older server: no claim
    expect(isUnsynced(null)).toBe(false);
  });
});

describe('pathNodes', () => {
  const render = (path: string) => {
    const div = document.createElement('div');
    div.append(...pathNodes(path));
    return div;
  };

  it('lets a path wrap after each folder, never inside a name', () => {
    const div = render('notebooks/very_long_folder/train_model.ipynb');
    expect(div.textContent).toBe('notebooks/very_long_folder/train_model.ipynb');
    expect(div.querySelectorAll('wbr')).toHaveLength(2);
    expect(div.innerHTML).toBe('notebooks/<wbr>very_long_folder/<wbr>train_model.ipynb');
  });

  it('keeps markup in a name as text', () => {
    const div = render('a/<img src=x onerror=alert(1)>.ipynb');
    expect(div.querySelector('img')).toBeNull();
    expect(div.textContent).toBe('a/<img src=x onerror=alert(1)>.ipynb');
  });
});
