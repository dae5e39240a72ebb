/**
 * nbdime's diff header without "Cell ID: undefined" (pure: tested without nbdime).
 */

/** What hideMissingCellIds reads and writes of nbdime's cell diff models. */
export interface ICellIdHolder {
  cellId: { base?: unknown; remote?: unknown } | null;
}

/**
 * Drop the cell-id row of cells whose id is absent on both sides: the server's review view
 * leaves ids out (they are not part of a notebook's version), and nbdime would print
 * "Cell ID: undefined" above every cell. Returns how many were dropped.
 */
export function hideMissingCellIds(cells: ICellIdHolder[]): number {
  let dropped = 0;
  for (const cell of cells) {
    const id = cell.cellId;
    if (id && (id.base === undefined || id.base === null) && (id.remote === undefined || id.remote === null)) {
      cell.cellId = null;
      dropped++;
    }
  }
  return dropped;
}
