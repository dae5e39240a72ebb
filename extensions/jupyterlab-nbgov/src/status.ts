/**
 * How review statuses, build states and runs are worded and coloured. Pure functions: the
 * badge, the panel and the tests share them.
 */
import { BuildState, ILastRun, IReviewRecord, IReviewState, ReviewStatus } from './tokens';

const REVIEW_LABELS: { [key in ReviewStatus]: string } = {
  approved: 'approved',
  stale: 'stale',
  'changes-requested': 'changes requested',
  unreviewed: 'unreviewed'
};

const DECISION_LABELS: { [key: string]: string } = {
  approved: 'approved',
  changes_requested: 'requested changes',
  comment: 'commented'
};

const BUILD_LABELS: { [key in BuildState]: string } = {
  'up-to-date': 'up to date',
  outdated: 'outdated',
  failed: 'failed',
  'never-run': 'never run'
};

/** The table's own entry for `key` (never one inherited from Object.prototype). */
function lookup(table: { [key: string]: string }, key: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

/** Short label of a review status ("changes requested"); unknown values pass through. */
export function reviewLabel(status: string): string {
  return lookup(REVIEW_LABELS, status) ?? status;
}

/** Short label of a build state ("never run"). */
export function buildLabel(state: string): string {
  return lookup(BUILD_LABELS, state) ?? state;
}

/**
 * CSS class carrying a status colour. Only known values make a class, so that a status
 * string from the server can never inject an arbitrary class name.
 */
export function reviewClass(status: string): string {
  return lookup(REVIEW_LABELS, status) !== undefined ? `nbgov-review-${status}` : 'nbgov-review-unknown';
}

/** CSS class of a build state, same rule as reviewClass. */
export function buildClass(state: string): string {
  return lookup(BUILD_LABELS, state) !== undefined ? `nbgov-build-${state}` : 'nbgov-build-unknown';
}

/** First 12 characters of a version hash (after its scheme prefix, e.g. `nbv1:`). */
export function shortVersion(version: string | null | undefined): string {
  if (!version) {
    return '—';
  }
  const colon = version.indexOf(':');
  const prefix = colon >= 0 ? version.slice(0, colon + 1) : '';
  const digest = colon >= 0 ? version.slice(colon + 1) : version;
  return prefix + digest.slice(0, 12);
}

const SIGNATURE_LABELS: { [key: string]: string } = {
  valid: 'signed',
  invalid: 'bad signature',
  'unknown key': 'unknown signer',
  unsigned: 'unsigned'
};

/**
 * What the badge says about the last record's signature: "signed", "unsigned", "bad
 * signature", "unknown signer"; '' when the server does not report signatures, and
 * "unsigned" is left unsaid where the project does not sign (`signing` false: every record
 * is unsigned there, and saying so on each badge is noise).
 */
export function signatureLabel(
  record: IReviewRecord | null | undefined,
  signing?: boolean
): string {
  if (!record || typeof record.signature !== 'string') {
    return '';
  }
  const label = lookup(SIGNATURE_LABELS, record.signature) ?? 'unsigned';
  return label === 'unsigned' && signing === false ? '' : label;
}

/**
 * A path as text nodes with a line-break opportunity (<wbr>) after each '/', so that a long
 * path wraps between its folders, never inside a name. Text only, whatever it holds.
 */
export function pathNodes(path: string): Node[] {
  const nodes: Node[] = [];
  path.split('/').forEach((part, i, parts) => {
    const text = i < parts.length - 1 ? `${part}/` : part;
    if (text) {
      nodes.push(document.createTextNode(text));
    }
    if (i < parts.length - 1) {
      nodes.push(document.createElement('wbr'));
    }
  });
  return nodes;
}

/** "approved by ada at 2026-11-26 07:30" for a review record. */
export function describeRecord(record: IReviewRecord): string {
  const what = lookup(DECISION_LABELS, record.decision) ?? record.decision;
  return `${what} by ${record.reviewer} at ${formatTime(record.at)}`;
}

/** ISO time as "YYYY-MM-DD HH:MM" (UTC as given); other text unchanged. */
export function formatTime(at: string | null | undefined): string {
  if (!at) {
    return '—';
  }
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(at);
  return match ? `${match[1]} ${match[2]}` : at;
}

/**
 * The badge's hover text: version, last decision, by whom, when (and the note).
 * It is set as a `title` attribute, i.e. as text.
 */
export function reviewTooltip(state: IReviewState): string {
  const lines = [`nbgov review: ${reviewLabel(state.status)}`, `version: ${shortVersion(state.version)}`];
  if (state.approved_version && state.approved_version !== state.version) {
    lines.push(`approved version: ${shortVersion(state.approved_version)}`);
  }
  if (state.last) {
    lines.push(`last decision: ${describeRecord(state.last)}`);
    if (state.last.note) {
      lines.push(`note: ${state.last.note}`);
    }
    if (state.last.signature) {
      lines.push(`signature: ${state.last.signature}`);
    }
  } else {
    lines.push('last decision: none yet');
  }
  if (state.task) {
    lines.push(`pipeline task: ${state.task}`);
  }
  return lines.join('\n');
}

/** A metric value as short text: numbers to 4 significant digits. */
export function formatMetric(value: unknown): string {
  if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      return String(value);
    }
    return Number(value.toPrecision(4)).toString();
  }
  if (value === null || value === undefined) {
    return '—';
  }
  return String(value);
}

/** "acc=0.9667, f1=0.95" for a run's metrics (sorted by name), or "" when there are none. */
export function metricsSummary(run: ILastRun | null): string {
  if (!run || !run.metrics) {
    return '';
  }
  return Object.keys(run.metrics)
    .sort()
    .map(key => `${key}=${formatMetric(run.metrics[key])}`)
    .join(', ');
}

/** Duration in seconds as "1.2 s" / "3 min 4 s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '—';
  }
  if (seconds < 60) {
    return `${Number(seconds.toFixed(1))} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/** True when a task's last run is kept locally only (the server says `synced: false`). */
export function isUnsynced(run: ILastRun | null | undefined): boolean {
  return !!run && run.synced === false;
}

/** What the "not synced" chip of a task says when hovered. */
export const UNSYNCED_RUN_TITLE =
  'This run is kept in the local journal (.nbgov/journal), not yet in the tracking store: ' +
  'run `nbgov sync` in the project to send it';

/**
 * The panel's banner about runs the tracking store has not got yet: "2 runs kept locally, not
 * yet in the tracking store — run `nbgov sync`"; '' when there are none (or an older server
 * does not count them).
 */
export function unsyncedBanner(count: unknown): string {
  if (typeof count !== 'number' || !Number.isFinite(count) || count <= 0) {
    return '';
  }
  const runs = count === 1 ? '1 run' : `${count} runs`;
  return `${runs} kept locally, not yet in the tracking store — run \`nbgov sync\``;
}
