/**
 * The REST API contract of nbgov's server extension (`{base_url}nbgov/api/`), as types.
 *
 * The frontend only talks to the server through these shapes; see `request.ts` for the
 * one helper that makes the calls.
 */

/** Review status of a notebook now. */
export type ReviewStatus = 'approved' | 'stale' | 'changes-requested' | 'unreviewed';

/** A decision a reviewer can record. */
export type Decision = 'approved' | 'changes_requested' | 'comment';

/** Build state of a pipeline task. */
export type BuildState = 'up-to-date' | 'outdated' | 'failed' | 'never-run';

/** `GET nbgov/api/info` */
export interface IInfo {
  version: string;
  root: string;
  pipeline: string | null;
  /** True when the server serves `GET nbgov/api/lineage`. */
  lineage?: boolean;
}

/** The state of a review record's SSH signature (checked against the allowed signers). */
export type SignatureState = 'valid' | 'invalid' | 'unknown key' | 'unsigned';

/** One review record as the server reports it. */
export interface IReviewRecord {
  decision: Decision;
  reviewer: string;
  at: string;
  note: string | null;
  version: string;
  /** Absent from servers older than signed reviews. */
  signature?: SignatureState;
}

/** `GET nbgov/api/review?path=P` and the 201 answer of `POST nbgov/api/review`. */
export interface IReviewState {
  path: string;
  status: ReviewStatus;
  version: string;
  approved_version: string | null;
  last: IReviewRecord | null;
  task: string | null;
  /**
   * False: the task's last run is kept in the local journal, not yet in the tracking store
   * (`nbgov sync` sends it); true once it is there; null without a task or a run. Absent from
   * servers older than the journal.
   */
  last_run_synced?: boolean | null;
  /**
   * Whether the project signs decisions (a signing key, `require_signed` or allowed signers):
   * "unsigned" is news only then. Absent from older servers (then shown as before).
   */
  signing?: boolean;
}

/** `POST nbgov/api/plan`: the pipeline re-planned by the real `nbgov status`. */
export interface IPlanReply {
  plan: 'current';
  pipeline: string;
}

/** The last run of a task, as tracked. */
export interface ILastRun {
  /** Null while the run is only in the local journal (the store was unreachable). */
  run_id: string | null;
  outcome: string;
  metrics: { [key: string]: number | string | null };
  started: string | null;
  ended: string | null;
  duration_s: number | null;
  /**
   * False: the run is kept in the project's local journal (`.nbgov/journal/`), not yet in the
   * tracking store; `nbgov sync` sends it. Absent from servers older than the journal.
   */
  synced?: boolean;
}

/** One task of `GET nbgov/api/pipeline`. */
export interface ITask {
  name: string;
  /** The file that is versioned and reviewed (a function task: its module). */
  source: string;
  /** notebook, script, function, sql, shell, link, input... (older servers: absent). */
  kind?: string;
  /** A function task's dotted path (`tasks.raw.get`): there is no notebook to open. */
  function?: string | null;
  /** The grid a generated task belongs to. */
  group?: string | null;
  products: { [key: string]: string };
  upstream: string[];
  state: BuildState;
  review: { status: ReviewStatus; version: string | null };
  last_run: ILastRun | null;
}

/** `GET nbgov/api/pipeline` */
export interface IPipeline {
  pipeline: string;
  tasks: ITask[];
  /**
   * Where the tasks come from: the build plan (`current`), an older plan (`stale`), the spec
   * as written (`missing`: no plan yet) or a pipeline just loaded (`loaded`).
   */
  plan?: 'current' | 'stale' | 'missing' | 'loaded';
  /** What the user should know or do (e.g. record products built by `ploomber build`). */
  hints?: string[];
  /** Finished task runs kept in the local journal, not yet in the tracking store. */
  unsynced?: number;
}

/** One run of a task (`GET nbgov/api/runs`): in the tracking store, or only in the journal. */
export interface IRun {
  /** The run id, or `local:KEY` while the run is only in the local journal. */
  id: string;
  run_id: string | null;
  synced: boolean;
  outcome: string | null;
  started: string | null;
  ended: string | null;
  duration_s: number | null;
  params: { [key: string]: unknown };
  metrics: { [key: string]: unknown };
  notebook_version: string | null;
  review_status: string | null;
  build_id: string | null;
  /** The run's page in the MLflow UI (null for a run not in the store yet). */
  url: string | null;
}

/** Where the MLflow UI is, or the command that serves it (embedded store). */
export interface IMlflowUI {
  url: string | null;
  command: string | null;
}

/** `GET nbgov/api/runs?task=T` */
export interface IRunsPayload {
  task: string;
  runs: IRun[];
  ui: IMlflowUI;
  /** Why the store's runs are missing (unreachable), or null. */
  store_error: string | null;
}

/** `GET nbgov/api/compare?task=T&a=A&b=B` */
export interface IComparePayload {
  task: string;
  a: IRun;
  b: IRun;
  /** The two executed notebooks as nbdime's base + diff, when both are in the store. */
  notebooks: { base: any; diff: any[] } | null;
  notebooks_note: string | null;
  ui: IMlflowUI;
}

/** A build started from JupyterLab (`POST/GET nbgov/api/build`). */
export interface IBuildJob {
  id: string;
  tasks: string[];
  downstream: boolean;
  /** running | succeeded | failed | cancelled | refused (the build lock: another build runs) */
  state: string;
  started: number;
  ended: number | null;
  returncode: number | null;
  /** The command's last error line (e.g. the build lock's refusal). */
  message: string | null;
  log: string;
  /** task -> "running" or its outcome, from the build's journal. */
  progress: { [task: string]: string };
  failures: { task: string; error: string | null }[];
}

/** `GET nbgov/api/diff?path=P&outputs=0|1` */
export interface IDiffPayload {
  path: string;
  approved_version: string;
  current_version: string;
  base: any;
  diff: any[];
}

/** `GET nbgov/api/task-context?path=P` */
export interface ITaskContext {
  task: string;
  params: { [key: string]: unknown };
  /** names of params whose values the server masked (secrets): never injected */
  secret_params?: string[];
  upstream: { [key: string]: unknown };
  product: unknown;
}

/** The JSON body of an error answer (NbgovError.to_dict() on the server). */
export interface IErrorBody {
  error?: string;
  message?: string;
  where?: { path: string | null; cell: number | null; line: number | null } | null;
  hint?: string | null;
}

/** What the UI shows when the server side of nbgov is not there. */
export const INSTALL_HINT = 'nbgov server extension not installed: pip install nbgov';

/** A failed call to the nbgov API, carrying the server's message and hint. */
export class NbgovAPIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string | null = null,
    readonly kind: string | null = null,
    /** Every reason of a gate's refusal (a promotion), in the server's words. */
    readonly reasons: string[] = []
  ) {
    super(message);
    this.name = 'NbgovAPIError';
  }

  /** True when the server extension itself is absent (its routes answer 404). */
  get missingServer(): boolean {
    return this.kind === 'ServerExtensionMissing';
  }

  /** Message and hint on one or two lines, for dialogs and tooltips. */
  describe(): string {
    return this.hint ? `${this.message}\nhint: ${this.hint}` : this.message;
  }
}

/** Command ids, in one place for the palette, the context menu and the tests. */
export namespace CommandIDs {
  export const approve = 'nbgov:approve';
  export const requestChanges = 'nbgov:request-changes';
  export const diff = 'nbgov:diff-approved';
  export const refresh = 'nbgov:refresh';
  export const injectParameters = 'nbgov:inject-parameters';
  export const openPanel = 'nbgov:open-pipeline';
  export const lineage = 'nbgov:lineage';
  export const runs = 'nbgov:runs';
  export const models = 'nbgov:models';
}
