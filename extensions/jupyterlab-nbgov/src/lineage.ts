/**
 * Lineage of a task ("which data and which reviewed code made this?") in a main-area tab: the
 * server's `GET nbgov/api/lineage?target=T` answer drawn as a collapsible tree of text.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { renderTree } from './tree';

/** A main-area tab showing the lineage payload of one target. */
export function createLineageWidget(target: string, payload: unknown): MainAreaWidget<Widget> {
  const content = new Widget();
  content.addClass('nbgov-lineage');
  const header = document.createElement('div');
  header.className = 'nbgov-lineage-header';
  header.textContent = `Lineage of ${target}`;
  content.node.append(header, renderTree(payload, target));
  const widget = new MainAreaWidget({ content });
  widget.id = `nbgov-lineage-${Date.now()}`;
  widget.title.label = `Lineage: ${target}`;
  widget.title.closable = true;
  return widget;
}
