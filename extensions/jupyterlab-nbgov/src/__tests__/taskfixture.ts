/**
 * A pipeline task as the server lists it, for the DAG tests: never run, unreviewed, a notebook
 * under notebooks/ with one `nb` product; `extra` overrides any field.
 */
import { ITask } from '../tokens';

export function task(name: string, upstream: string[] = [], extra: Partial<ITask> = {}): ITask {
  return {
    name,
    source: `notebooks/${name}.ipynb`,
    products: { nb: `products/${name}.ipynb` },
    upstream,
    state: 'never-run',
    review: { status: 'unreviewed', version: null },
    last_run: null,
    ...extra
  };
}
