/**
 * The one helper every call to nbgov's server extension goes through, and a typed client on
 * top of it.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { IModelsPayload, IPromotionPlan } from './models';
import {
  Decision,
  IDiffPayload,
  IErrorBody,
  IInfo,
  INSTALL_HINT,
  IBuildJob,
  IComparePayload,
  IPipeline,
  IPlanReply,
  IRunsPayload,
  IReviewState,
  ITaskContext,
  NbgovAPIError
} from './tokens';

/** Where the API lives under the server's base URL. */
export const API_NAMESPACE = 'nbgov/api';

/**
 * Call the nbgov REST API and return its JSON answer.
 *
 * Args:
 *   endPoint: the route under `nbgov/api/`, with its query string (e.g. `review?path=a.ipynb`).
 *   init: fetch options (method, body).
 *   settings: server connection settings; the default ones of the page when omitted.
 *
 * Returns:
 *   The decoded JSON body.
 *
 * Throws:
 *   NbgovAPIError with the server's message and hint; with kind `ServerExtensionMissing` when
 *   the routes are not there at all (a 404 that is not one of nbgov's JSON errors).
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new NbgovAPIError(0, `cannot reach the Jupyter server: ${String(error)}`);
  }
  const text = await response.text();
  let body: any = null;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null; // a Jupyter HTML error page, not one of ours
    }
  }
  if (!response.ok) {
    throw errorFrom(response.status, body);
  }
  if (body === null && text.length > 0) {
    throw new NbgovAPIError(response.status, `the nbgov API answered with non-JSON text`);
  }
  return body as T;
}

/** Turn an error answer into an NbgovAPIError. */
function errorFrom(status: number, body: IErrorBody | null): NbgovAPIError {
  const ours = body !== null && typeof body === 'object' && typeof body.error === 'string';
  if (status === 404 && !ours) {
    return new NbgovAPIError(404, INSTALL_HINT, null, 'ServerExtensionMissing');
  }
  if (ours) {
    return new NbgovAPIError(
      status,
      body!.message ?? `${body!.error} (HTTP ${status})`,
      body!.hint ?? null,
      body!.error ?? null,
      Array.isArray((body as any).reasons)
        ? (body as any).reasons.filter((r: unknown) => typeof r === 'string')
        : []
    );
  }
  const message = (body as any)?.message ?? `HTTP ${status}`;
  return new NbgovAPIError(status, `the nbgov API failed: ${message}`);
}

/** Encode query parameters (paths may hold spaces, `&`, `#`...). */
function query(params: { [key: string]: string }): string {
  return Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
}

/**
 * Typed calls to every route of the contract. One instance is shared by the badge, the panel
 * and the commands; `info()` is cached so that a missing server extension is detected once.
 */
export class NbgovClient {
  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  readonly settings: ServerConnection.ISettings;

  /** Server version, root and pipeline file; rejects with ServerExtensionMissing on 404. */
  info(force = false): Promise<IInfo> {
    if (force || this._info === null) {
      this._info = requestAPI<IInfo>('info', {}, this.settings).catch(error => {
        this._info = null; // retry on the next call: the user may install it meanwhile
        if (error instanceof NbgovAPIError && error.status === 404) {
          throw new NbgovAPIError(404, INSTALL_HINT, null, 'ServerExtensionMissing');
        }
        throw error;
      });
    }
    return this._info;
  }

  /** Review state of one notebook (server-root-relative path). */
  review(path: string): Promise<IReviewState> {
    return requestAPI<IReviewState>(`review?${query({ path })}`, {}, this.settings);
  }

  /** Record a decision on the notebook's current version; the server names the reviewer. */
  decide(path: string, decision: Decision, note: string): Promise<IReviewState> {
    return requestAPI<IReviewState>(
      'review',
      { method: 'POST', body: JSON.stringify({ path, decision, note }) },
      this.settings
    );
  }

  /** The pipeline's tasks with build state, review status and last run. */
  pipeline(): Promise<IPipeline> {
    return requestAPI<IPipeline>('pipeline', {}, this.settings);
  }

  /**
   * Re-plan the pipeline on the server (it runs the real `nbgov status`, which renders the
   * DAG): what a terminal was needed for when pipeline.yaml changed. A POST: XSRF applies.
   */
  replan(path?: string): Promise<IPlanReply> {
    return requestAPI<IPlanReply>(
      'plan',
      { method: 'POST', body: JSON.stringify(path ? { path } : {}) },
      this.settings
    );
  }

  /** A task's runs, newest first (tracking store and local journal). */
  runs(task: string): Promise<IRunsPayload> {
    return requestAPI<IRunsPayload>(`runs?${query({ task })}`, {}, this.settings);
  }

  /** Two runs of a task side by side. */
  compare(task: string, a: string, b: string): Promise<IComparePayload> {
    return requestAPI<IComparePayload>(`compare?${query({ task, a, b })}`, {}, this.settings);
  }

  /** Start `nbgov build` on the server: the pipeline (no tasks), tasks, or tasks and downstream. */
  build(tasks: string[] = [], downstream = false): Promise<IBuildJob> {
    return requestAPI<IBuildJob>(
      'build',
      { method: 'POST', body: JSON.stringify({ tasks, downstream }) },
      this.settings
    );
  }

  /** The last build started from JupyterLab in this project. */
  buildStatus(): Promise<IBuildJob> {
    return requestAPI<IBuildJob>('build', {}, this.settings);
  }

  /** Stop the running build (SIGINT, then SIGTERM, to its process group). */
  cancelBuild(): Promise<IBuildJob> {
    return requestAPI<IBuildJob>('build/cancel', { method: 'POST', body: '{}' }, this.settings);
  }

  /** The project's registered models, versions, aliases and the gate's verdicts. */
  models(alias?: string): Promise<IModelsPayload> {
    return requestAPI<IModelsPayload>(alias ? `models?${query({ alias })}` : 'models', {}, this.settings);
  }

  /**
   * Move `alias` to the model version `model` (`models:/NAME/VERSION`) through the same gate as
   * `nbgov promote`; a refusal rejects with an NbgovAPIError (409) carrying every reason.
   */
  promote(model: string, alias: string, note = ''): Promise<IPromotionPlan> {
    return requestAPI<IPromotionPlan>(
      'models/promote',
      { method: 'POST', body: JSON.stringify({ model, alias, note }) },
      this.settings
    );
  }

  /** nbdime diff of the approved snapshot against the current notebook. */
  diff(path: string, outputs = false): Promise<IDiffPayload> {
    return requestAPI<IDiffPayload>(
      `diff?${query({ path, outputs: outputs ? '1' : '0' })}`,
      {},
      this.settings
    );
  }

  /** The lineage tree of a task, product path or model URI (when `info().lineage`). */
  lineage(target: string): Promise<unknown> {
    return requestAPI<unknown>(`lineage?${query({ target })}`, {}, this.settings);
  }

  /** Parameters, upstream products and products of the task a notebook belongs to. */
  taskContext(path: string): Promise<ITaskContext> {
    return requestAPI<ITaskContext>(`task-context?${query({ path })}`, {}, this.settings);
  }

  private _info: Promise<IInfo> | null = null;
}
