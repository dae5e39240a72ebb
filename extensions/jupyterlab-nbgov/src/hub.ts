/**
 * What the badge, the panel and the commands share: the API client, the server-relative path
 * of a document, and a signal fired when a review state may have changed.
 */
import { Signal } from '@lumino/signaling';

import { NbgovClient } from './request';
import { IReviewState } from './tokens';

/**
 * Server-root-relative posix path of a document path as JupyterLab knows it: drops a drive
 * prefix ("RTC:", "Drive:") and leading slashes.
 */
export function serverPath(path: string): string {
  const colon = path.indexOf(':');
  const slash = path.indexOf('/');
  const withoutDrive = colon >= 0 && (slash < 0 || colon < slash) ? path.slice(colon + 1) : path;
  return withoutDrive.replace(/^\/+/, '');
}

/** Shared state of the extension in one JupyterLab page. */
export class NbgovHub {
  constructor(readonly client: NbgovClient = new NbgovClient()) {}

  /**
   * Fired with a notebook path (server-relative) after a decision was recorded or the file
   * was saved, with `null` for "refresh everything".
   */
  get changed(): Signal<NbgovHub, string | null> {
    return this._changed;
  }

  /** Last review state seen per path, so a new listener can paint without waiting. */
  readonly states = new Map<string, IReviewState>();

  /** Tell every view that `path` (or everything, for null) should be fetched again. */
  notify(path: string | null): void {
    if (path === null) {
      this.states.clear();
    } else {
      this.states.delete(path); // stale now: listeners fetch it again
    }
    this._changed.emit(path);
  }

  /** Store a state the server returned (e.g. the answer of a POST) and notify views. */
  update(state: IReviewState): void {
    this.states.set(state.path, state);
    this._changed.emit(state.path);
  }

  private _changed = new Signal<NbgovHub, string | null>(this);
}
