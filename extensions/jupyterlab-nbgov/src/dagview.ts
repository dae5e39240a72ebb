/**
 * The pipeline graph in a main-area tab: the same drawing as the Pipeline panel's (ELK's
 * layered layout, as the lineage graph), with room (a sidebar is too narrow for a wide DAG at
 * a readable size).
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { drawDag, IRenderOptions } from './dag';
import { IPipeline } from './tokens';

/** A main-area tab drawing `pipeline` (task names as text; a click opens the task). */
export function createDagWidget(
  pipeline: IPipeline,
  options: IRenderOptions = {}
): MainAreaWidget<Widget> {
  const content = new Widget();
  content.addClass('nbgov-dag-main');
  const header = document.createElement('div');
  header.className = 'nbgov-dag-main-header';
  header.textContent = `${pipeline.pipeline}: ${pipeline.tasks.length} tasks`;
  const graph = document.createElement('div');
  graph.className = 'nbgov-dag-main-graph';
  content.node.append(header, graph);
  // the same ELK layout as the lineage graph (and the panel, whose layout is reused)
  void drawDag(graph, pipeline.tasks, options);
  const widget = new MainAreaWidget({ content });
  widget.id = 'nbgov-dag-main';
  widget.title.label = `Pipeline: ${pipeline.pipeline}`;
  widget.title.closable = true;
  return widget;
}
