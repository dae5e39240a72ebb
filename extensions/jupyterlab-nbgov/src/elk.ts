/**
 * The one graph layout of the extension: ELK's layered algorithm (elkjs), shared by the
 * lineage graph and the pipeline DAG, so both read the same way (layers, edge routes).
 */
import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkEdgeSection, ElkNode } from 'elkjs/lib/elk-api';

/** ELK's options for a layered drawing flowing in `direction`. */
export function layeredOptions(direction: 'UP' | 'DOWN'): { [key: string]: string } {
  return {
    'elk.algorithm': 'layered',
    'elk.direction': direction,
    'elk.spacing.nodeNode': '30',
    'elk.layered.spacing.nodeNodeBetweenLayers': '50',
    'elk.edgeLabels.inline': 'false',
    'elk.padding': '[top=12,left=12,bottom=12,right=12]'
  };
}

let engine: InstanceType<typeof ELK> | null = null;

/** ELK's layout of `graph` (positions of nodes, edge sections, label positions). */
export async function elkLayout(graph: ElkNode): Promise<ElkNode> {
  engine = engine ?? new ELK();
  return engine.layout(graph);
}

/** SVG path data of an ELK edge section: straight segments through its bend points. */
export function sectionPath(section: ElkEdgeSection): string {
  const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
  return points.map((p, i) => `${i ? 'L' : 'M'} ${p.x} ${p.y}`).join(' ');
}
