/**
 * DOM helpers shared by the panel, the graphs and the thread views. User text is only ever set
 * as text content, never parsed as HTML.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Create an element with a class and text content (never HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** Create an SVG element with attributes. */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: { [key: string]: string | number } = {}
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  return node;
}

/** `<defs>` holding the arrow head marker `id` that the graphs' edges end with. */
export function arrowDefs(id: string): SVGDefsElement {
  const defs = svg('defs');
  const marker = svg('marker', {
    id,
    viewBox: '0 0 10 10',
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse'
  });
  marker.appendChild(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'nbgov-dag-arrow' }));
  defs.appendChild(marker);
  return defs;
}
