/**
 * Running a task notebook interactively: put the task's parameters, upstream products and
 * products into a code cell tagged `injected-parameters`, right after the `parameters` cell
 * (what Papermill and Ploomber do at build time). The server extension strips cells with that
 * tag before saving, and the notebook version ignores them, so they never become part of what
 * is reviewed.
 */
import { ITaskContext } from './tokens';

/** The tag of the cell this module writes (and the server strips on save). */
export const INJECTED_TAG = 'injected-parameters';

/** The tag that marks the notebook's own parameters cell. */
export const PARAMETERS_TAG = 'parameters';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A JSON value as a Python literal. JSON string escapes are valid Python escapes, so strings
 * go through JSON.stringify; only the constants differ.
 */
export function toPython(value: unknown): string {
  if (value === null || value === undefined) {
    return 'None';
  }
  if (value === true) {
    return 'True';
  }
  if (value === false) {
    return 'False';
  }
  if (typeof value === 'number') {
    if (Number.isNaN(value)) {
      return 'float("nan")';
    }
    if (!Number.isFinite(value)) {
      return value > 0 ? 'float("inf")' : '-float("inf")';
    }
    return String(value);
  }
  if (typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(toPython).join(', ')}]`;
  }
  if (typeof value === 'object') {
    const items = Object.entries(value as object).map(
      ([key, item]) => `${JSON.stringify(key)}: ${toPython(item)}`
    );
    return `{${items.join(', ')}}`;
  }
  return JSON.stringify(String(value));
}

/**
 * The source of the injected cell for a task context.
 *
 * Parameters whose names are not Python identifiers are left out (listed in a comment, as
 * JSON strings so that no name can break out of the comment). Secret parameters (the server
 * masks their values and names them in `secret_params`) are left out too: the notebook keeps
 * its own default, and the user supplies the secret their own way.
 */
export function injectedSource(context: ITaskContext): string {
  const lines = [
    `# Injected by nbgov for an interactive run of task ${JSON.stringify(context.task)}.`,
    '# Not saved: the nbgov server removes cells tagged "injected-parameters" on save.'
  ];
  const skipped: string[] = [];
  const secret = new Set(context.secret_params ?? []);
  const withheld: string[] = [];
  for (const [name, value] of Object.entries(context.params ?? {})) {
    if (secret.has(name)) {
      withheld.push(JSON.stringify(name));
    } else if (IDENTIFIER.test(name) && name !== 'upstream' && name !== 'product') {
      lines.push(`${name} = ${toPython(value)}`);
    } else {
      skipped.push(JSON.stringify(name));
    }
  }
  if (context.upstream && Object.keys(context.upstream).length > 0) {
    lines.push(`upstream = ${toPython(context.upstream)}`);
  }
  if (context.product !== undefined && context.product !== null) {
    lines.push(`product = ${toPython(context.product)}`);
  }
  if (withheld.length > 0) {
    lines.push(`# secret parameters, not sent by the server (set them yourself): ${withheld.join(', ')}`);
  }
  if (skipped.length > 0) {
    lines.push(`# not valid Python names, left out: ${skipped.join(', ')}`);
  }
  return lines.join('\n');
}

/** The part of a notebook cell this module reads. */
export interface ICellLike {
  readonly cell_type: string;
  getMetadata(key: string): unknown;
}

/** The part of a notebook's shared model this module changes. */
export interface INotebookLike {
  readonly cells: readonly ICellLike[];
  insertCell(index: number, cell: any): unknown;
  deleteCell(index: number): void;
  transact(f: () => void): void;
}

function hasTag(cell: ICellLike, tag: string): boolean {
  const tags = cell.getMetadata('tags');
  return Array.isArray(tags) && tags.includes(tag);
}

/**
 * Replace any injected cell by a fresh one after the `parameters` cell (or at the top when
 * there is none).
 *
 * Returns:
 *   The index of the injected cell.
 */
export function injectParameters(notebook: INotebookLike, context: ITaskContext): number {
  notebook.transact(() => {
    for (let i = notebook.cells.length - 1; i >= 0; i--) {
      if (hasTag(notebook.cells[i], INJECTED_TAG)) {
        notebook.deleteCell(i);
      }
    }
  });
  const index = notebook.cells.findIndex(cell => hasTag(cell, PARAMETERS_TAG)) + 1;
  notebook.insertCell(index, {
    cell_type: 'code',
    source: injectedSource(context),
    metadata: { tags: [INJECTED_TAG] }
  });
  return index;
}
