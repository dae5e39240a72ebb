/**
 * A JSON value as a collapsible tree of text (used for the lineage payload).
 *
 * The tree is generic over the JSON it is given, so the view keeps working while the lineage
 * payload grows new fields; every key and value goes in as textContent.
 */

/** Nesting deeper than this is shown as JSON text (guards against pathological payloads). */
const MAX_DEPTH = 12;

/** One scalar as short text. */
function scalar(value: unknown): string {
  if (value === null || value === undefined) {
    return '—';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A short summary of a container for its collapsed line: its name, task or path if any. */
function summary(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.length}]`;
  }
  if (value && typeof value === 'object') {
    const record = value as { [key: string]: unknown };
    for (const key of ['task', 'name', 'path', 'target', 'run_id']) {
      if (typeof record[key] === 'string') {
        return `${key}: ${record[key]}`;
      }
    }
    return `{${Object.keys(record).length}}`;
  }
  return scalar(value);
}

/**
 * Render a JSON value as nested lists: objects and arrays become <details> (open for the first
 * two levels), scalars `key: value` lines.
 */
export function renderTree(value: unknown, label = 'lineage', depth = 0): HTMLElement {
  if (value === null || typeof value !== 'object') {
    const line = document.createElement('div');
    line.className = 'nbgov-tree-leaf';
    const key = document.createElement('span');
    key.className = 'nbgov-tree-key';
    key.textContent = `${label}: `;
    const text = document.createElement('span');
    text.className = 'nbgov-tree-value';
    text.textContent = scalar(value);
    line.append(key, text);
    return line;
  }
  const details = document.createElement('details');
  details.className = 'nbgov-tree-node';
  details.open = depth < 2;
  const head = document.createElement('summary');
  head.textContent = `${label} — ${summary(value)}`;
  details.appendChild(head);
  if (depth >= MAX_DEPTH) {
    const pre = document.createElement('pre');
    pre.textContent = JSON.stringify(value, null, 1);
    details.appendChild(pre);
    return details;
  }
  const list = document.createElement('ul');
  const entries = Array.isArray(value)
    ? value.map((item, i) => [String(i), item] as const)
    : Object.entries(value as object);
  for (const [key, item] of entries) {
    const li = document.createElement('li');
    li.appendChild(renderTree(item, key, depth + 1));
    list.appendChild(li);
  }
  details.appendChild(list);
  return details;
}
