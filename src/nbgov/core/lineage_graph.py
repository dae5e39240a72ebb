"""The upstream graph of a lineage query and its renderings: text tree, Mermaid, Graphviz, SVG.

Pure: the graph is built from lineage records (dicts, schema ``nbgov.lineage-record/1``) through
a ``fetch(run_id)`` callable the caller supplies (local files, MLflow, or a test dict), so the
walk and the renderings are tested without any store.

Graph form (the JSON payload of ``nbgov lineage --json`` and of the server API)::

    {"roots": [key, ...],                      # the nodes the query started from
     "nodes": {key: node, ...}}                # key = MLflow run id, "task:NAME" or "model:..."

    node = {"key", "kind": "task" | "model" | "missing", "task", "run_id", "outcome",
            "synced": False for a run kept in the local journal (run_id null until
            `nbgov sync`; "run_key" names it meanwhile),
            "notebook": {"path", "version", "review_status"}, "params", "inputs", "products",
            "git", "environment", "started", "ended", "metrics", "origin", "upstream": [key, ...]}
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

Fetch = Callable[[str], "tuple[dict[str, Any] | None, str]"]  # run id -> (record, origin)

#: Products that are the executed notebook itself: not data, left out of data listings.
NOTEBOOK_KEY = "nb"
#: What a run kept in the local journal is, instead of its (not yet existing) MLflow run id.
UNSYNCED_RUN = "not synced yet: kept in .nbgov/journal; run `nbgov sync`"


#: The JSON Schema of a lineage graph payload (what ``nbgov lineage --json`` prints).
PAYLOAD_SCHEMA_FILE = Path(__file__).parent / "schemas" / "lineage-graph.v1.json"


def task_node(record: dict[str, Any], origin: str) -> dict[str, Any]:
    """The node of one task run, from its lineage record."""
    run_id = record.get("run_id")
    env = record.get("environment") or {}
    return {
        "key": run_id or f"task:{record.get('task')}",
        "kind": "task",
        "task": record.get("task"),
        "run_id": run_id,
        # written while the store was unreachable: the run is in the journal, its id comes
        # with `nbgov sync`; the run key names it meanwhile
        "synced": bool(run_id) or not record.get("run_key"),
        "run_key": record.get("run_key"),
        "outcome": record.get("outcome"),
        "notebook": dict(record.get("notebook") or {}),
        "params": dict(record.get("params") or {}),
        "inputs": list(record.get("inputs") or []),
        "products": dict(record.get("products") or {}),
        "git": {k: (record.get("git") or {}).get(k) for k in ("commit", "dirty")},
        "environment": {
            k: env.get(k) for k in ("python", "packages_digest", "environment_yml_digest")
        },
        "started": record.get("started"),
        "ended": record.get("ended"),
        "metrics": dict(record.get("metrics") or {}),
        "build_id": record.get("build_id"),
        "runner": record.get("runner"),
        "origin": origin,
        "upstream": [],
    }


def missing_node(task: str | None, run_id: str | None) -> dict[str, Any]:
    """A node for an upstream run whose record cannot be read (or that was never recorded)."""
    return {
        "key": run_id or f"task:{task}",
        "kind": "missing",
        "task": task,
        "run_id": run_id,
        "origin": None,
        "upstream": [],
    }


def model_node(model: dict[str, Any], upstream: list[str]) -> dict[str, Any]:
    """A node for a registered model version, pointing at the task run(s) that registered it."""
    return {
        "key": f"model:{model['name']}/{model['version']}",
        "kind": "model",
        "task": None,
        "run_id": model.get("run_id"),
        "model": model,
        "origin": "mlflow",
        "upstream": list(upstream),
    }


def build_graph(starts: list[tuple[dict[str, Any], str]], fetch: Fetch) -> dict[str, Any]:
    """Walk upstream from ``starts`` (records with their origin), breadth first.

    Each upstream ``{"task", "run_id"}`` of a record is fetched once; a run id that ``fetch``
    cannot resolve, or an upstream recorded without a run id, becomes a ``missing`` node. An
    upstream run kept in the local journal (not yet synced) has no run id yet: it is fetched by
    its ``run_key``, which ``fetch`` resolves from the local records only.
    """
    nodes: dict[str, dict[str, Any]] = {}
    queue: list[dict[str, Any]] = []
    roots = []
    for record, origin in starts:
        node = task_node(record, origin)
        if node["key"] not in nodes:
            nodes[node["key"]] = node
            roots.append(node["key"])
            queue.append(record)
    while queue:
        record = queue.pop(0)
        node = nodes[record.get("run_id") or f"task:{record.get('task')}"]
        for up in record.get("upstream") or []:
            run_id, task = up.get("run_id"), up.get("task")
            key = run_id or f"task:{task}"
            if key not in node["upstream"]:
                node["upstream"].append(key)
            if key in nodes:
                continue
            ref = run_id or up.get("run_key")
            found, origin = fetch(ref) if ref else (None, "")
            if found is None:
                nodes[key] = missing_node(task, run_id)
                continue
            nodes[key] = task_node(found, origin)
            queue.append(found)
    return {"roots": roots, "nodes": nodes}


def walk(graph: dict[str, Any]) -> list[str]:
    """Every node key reachable from the roots, each once, upstream after downstream."""
    seen: list[str] = []
    stack = list(reversed(graph["roots"]))
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.append(key)
        stack.extend(reversed(graph["nodes"][key]["upstream"]))
    return seen


def short(value: str | None, n: int = 8) -> str:
    """``nbv1:0123abcd`` / ``sha256:0123abcd`` / a run id cut to ``n`` hex digits."""
    if not value:
        return "-"
    prefix, _, rest = str(value).rpartition(":")
    return f"{prefix}:{rest[:n]}" if prefix else rest[:n]


def run_label(node: dict[str, Any], n: int = 8, *, explain: bool = False) -> str:
    """``run <id cut to n>``; for a run not yet synced ``run not synced``, or with ``explain``
    where the run is and what sends it (never ``run None``)."""
    if node.get("synced") is False:
        return f"run ({UNSYNCED_RUN})" if explain else "run not synced"
    return f"run {short(node.get('run_id'), n)}"


def _params(params: dict[str, Any], limit: int = 6) -> str:
    items = [f"{k}={v}" for k, v in list(params.items())[:limit]]
    if len(params) > limit:
        items.append("...")
    return " ".join(items)


def _data(node: dict[str, Any]) -> list[str]:
    """The data lines of a node: its inputs, and for a source (no upstream) its products."""
    lines = [f"in  {i.get('path')} {short(i.get('digest'), 12)}" for i in node.get("inputs") or []]
    if not node.get("upstream"):
        lines += [
            f"out {p.get('path')} {short(p.get('digest'), 12)}"
            for k, p in (node.get("products") or {}).items()
            if k != NOTEBOOK_KEY
        ]
    return lines


def headline(node: dict[str, Any]) -> str:
    """One line naming a node: task, notebook version, review status, run, outcome."""
    if node["kind"] == "model":
        m = node["model"]
        aliases = f" @{', @'.join(m['aliases'])}" if m.get("aliases") else ""
        return f"model {m['uri']}{aliases}"
    if node["kind"] == "missing":
        return f"{node['task']}  {run_label(node, 32)}  (no lineage record found)"
    nb = node.get("notebook") or {}
    git = node.get("git") or {}
    dirty = "+dirty" if git.get("dirty") else ""
    # a function task has no notebook: name its module and the function it runs
    source = nb.get("path", "?") + (f" ({node['function']})" if node.get("function") else "")
    return (
        f"{node['task']}  {source} {short(nb.get('version'))}"
        f" [{nb.get('review_status', '?')}]"
        f"  {run_label(node, 32, explain=True)}  {node.get('outcome')}  git {short(git.get('commit'))}{dirty}"
    )


def render_text(graph: dict[str, Any]) -> str:
    """The upstream tree as text; a node reached twice is printed once, then referred to."""
    out: list[str] = []
    printed: set[str] = set()

    def emit(key: str, prefix: str, last: bool, top: bool) -> None:
        node = graph["nodes"][key]
        branch = "" if top else ("└── " if last else "├── ")
        child_prefix = prefix + ("" if top else ("    " if last else "│   "))
        if key in printed:
            out.append(f"{prefix}{branch}{node['task']} ({run_label(node)}, see above)")
            return
        printed.add(key)
        out.append(f"{prefix}{branch}{headline(node)}")
        details = []
        if node.get("params"):
            details.append(f"params {_params(node['params'])}")
        details += _data(node)
        ups = node["upstream"]
        bar = "│   " if ups else "    "
        out.extend(f"{child_prefix}{bar}{d}" for d in details)
        for i, up in enumerate(ups):
            emit(up, child_prefix, i == len(ups) - 1, False)

    for root in graph["roots"]:
        emit(root, "", True, True)
    return "\n".join(out)


def _label_lines(node: dict[str, Any]) -> list[str]:
    if node["kind"] == "model":
        return [node["model"]["uri"], run_label(node)]
    if node["kind"] == "missing":
        return [str(node["task"]), "no lineage record", run_label(node)]
    nb = node.get("notebook") or {}
    return [
        str(node["task"]),
        f"{short(nb.get('version'))} {nb.get('review_status', '?')}",
        run_label(node),
    ]


def _edges(graph: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(upstream key, downstream key, label naming the data passed, with digests)."""
    edges = []
    for key in walk(graph):
        node = graph["nodes"][key]
        for up in node["upstream"]:
            up_task = graph["nodes"][up].get("task")
            data = [
                f"{i.get('key')} {short(i.get('digest'))}"
                for i in node.get("inputs") or []
                if i.get("task") == up_task
            ]
            edges.append((up, key, ", ".join(data)))
    return edges


def _ids(graph: dict[str, Any]) -> dict[str, str]:
    return {key: f"n{i}" for i, key in enumerate(walk(graph))}


def render_mermaid(graph: dict[str, Any]) -> str:
    """A Mermaid flowchart, data flowing left to right."""
    ids = _ids(graph)
    lines = ["flowchart LR"]
    for key, nid in ids.items():
        label = "<br/>".join(_label_lines(graph["nodes"][key])).replace('"', "'")
        lines.append(f'  {nid}["{label}"]')
    for up, down, label in _edges(graph):
        arrow = f' -->|"{label}"| ' if label else " --> "
        lines.append(f"  {ids[up]}{arrow}{ids[down]}")
    for key, nid in ids.items():
        status = (graph["nodes"][key].get("notebook") or {}).get("review_status")
        if status and status != "approved":
            lines.append(f"  style {nid} stroke:#c60,stroke-width:2px")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(graph: dict[str, Any]) -> str:
    """A Graphviz digraph, data flowing left to right."""
    ids = _ids(graph)
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for key, nid in ids.items():
        node = graph["nodes"][key]
        style = (
            ", style=dashed"
            if node["kind"] == "missing"
            else (", shape=component" if node["kind"] == "model" else "")
        )
        label = "\\n".join(_dot_quote(t)[1:-1] for t in _label_lines(node))
        lines.append(f'  {nid} [label="{label}"{style}];')
    for up, down, label in _edges(graph):
        lines.append(
            f"  {ids[up]} -> {ids[down]}" + (f" [label={_dot_quote(label)}];" if label else ";")
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def layers(graph: dict[str, Any]) -> dict[str, int]:
    """Column of each node: 0 for sources (no upstream), else one more than its deepest upstream."""
    col: dict[str, int] = {}

    def depth(key: str, trail: frozenset) -> int:
        if key in col:
            return col[key]
        ups = [u for u in graph["nodes"][key]["upstream"] if u not in trail]
        col[key] = 1 + max((depth(u, trail | {key}) for u in ups), default=-1)
        return col[key]

    for key in walk(graph):
        depth(key, frozenset())
    return col


def render_svg(graph: dict[str, Any]) -> str:
    """A self-contained SVG picture (no Graphviz needed): columns from sources to the target."""
    box_w, box_h, gap_x, gap_y, pad = 220, 62, 70, 26, 20
    col = layers(graph)
    rows: dict[int, list[str]] = {}
    for key in walk(graph):
        rows.setdefault(col[key], []).append(key)
    edges = _edges(graph)
    # an edge that skips columns arcs over the boxes in between: room for the arcs on top
    spans = [col[down] - col[up] for up, down, _ in edges]
    top = pad + 14 * max((sp for sp in spans if sp > 1), default=0)
    pos = {
        key: (pad + c * (box_w + gap_x), top + r * (box_h + gap_y))
        for c, keys in rows.items()
        for r, key in enumerate(keys)
    }
    width = pad * 2 + (max(rows, default=0) + 1) * (box_w + gap_x) - gap_x
    height = top + pad + max((len(k) for k in rows.values()), default=1) * (box_h + gap_y) - gap_y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for (up, down, label), span in zip(edges, spans, strict=True):
        (x1, y1), (x2, y2) = pos[up], pos[down]
        if span > 1:  # from the top of one box to the top of the other, above the row
            sx, sy, ex, ey = x1 + box_w / 2, y1, x2 + box_w / 2 - 12, y2
            lift = min(sy, ey) - 14 * span
            d = f"M {sx} {sy} C {sx} {lift}, {ex} {lift}, {ex} {ey}"
        else:
            sx, sy, ex, ey = x1 + box_w, y1 + box_h / 2, x2, y2 + box_h / 2
            d = f"M {sx} {sy} C {sx + gap_x / 2} {sy}, {ex - gap_x / 2} {ey}, {ex} {ey}"
        title = f"<title>{escape(label)}</title>" if label else ""
        parts.append(
            f'<g>{title}<path d="{d}" fill="none" stroke="#555" marker-end="url(#arrow)"/></g>'
        )
    for key, (x, y) in pos.items():
        node = graph["nodes"][key]
        status = (node.get("notebook") or {}).get("review_status")
        stroke = "#2a7" if status == "approved" else ("#888" if node["kind"] != "task" else "#c60")
        dash = ' stroke-dasharray="4 3"' if node["kind"] == "missing" else ""
        parts.append(
            f"<g><title>{escape(headline(node))}</title>"
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="#f8f8f8" '
            f'stroke="{stroke}" stroke-width="2"{dash}/>'
        )
        for i, text in enumerate(_label_lines(node)):
            weight = ' font-weight="bold"' if i == 0 else ""
            parts.append(
                f'<text x="{x + 10}" y="{y + 18 + i * 16}"{weight}>{escape(text[:34])}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
