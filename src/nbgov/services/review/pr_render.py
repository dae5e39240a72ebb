"""A pull-request report (:mod:`.pr`) as GitHub-flavoured Markdown (a PR comment) and as one
self-contained HTML file. Pure: the report dict in, text out.

Everything a user wrote (paths, cell sources, outputs, reviewer names, notes, thread comments)
is escaped: in the HTML with :func:`html.escape`, under a Content-Security-Policy that allows
no script and no request (images are ``data:`` URIs of the notebook's own outputs); in the
Markdown as text or inside code fences longer than any backtick run of the content.

GitHub refuses comments over 65,536 characters, so the Markdown keeps within
:data:`MARKDOWN_LIMIT`: the summary and the table of every target always, then each target's
details while they fit; the rest are named with a pointer to the full report.
"""

from __future__ import annotations

import html
import re
from typing import Any

#: GitHub's limit on a comment is 65,536 characters; leave room for the footer.
MARKDOWN_LIMIT = 65_536
_BUDGET = MARKDOWN_LIMIT - 2_000
#: Diff lines shown per cell in the Markdown (the HTML shows all).
MD_CELL_LINES = 60
_B64 = re.compile(r"[A-Za-z0-9+/=]*")
_ICON = {"approved": "✅", "stale": "🟡", "changes-requested": "❌", "unreviewed": "⚪", "deleted": "🗑️"}


# ---------------------------------------------------------------- Markdown

#: Characters that would end or break a Markdown/HTML context: C0/C1 controls, DEL, and the
#: Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ZWJ = "\u200d"
#: What GitHub turns into a ping or a link in text: @user, @org/team, user@host (after the @),
#: scheme://, www., mailto: / xmpp:.
_LIVE = re.compile(r"(?<=@)(?=[A-Za-z0-9_-])|(?<=:)(?=//)|(?i:(?<=\bwww)(?=\.))|(?i:(?<=\bmailto:)|(?<=\bxmpp:))")


def _show(m: re.Match[str]) -> str:
    return m.group().encode("unicode_escape").decode("ascii")


def visible(text: Any) -> str:
    """``text`` on one line, every control character (newline, tab, NUL, U+2028...) shown as its
    escape (``\\n``, ``\\x1b``): the first step of every escaper here, so no user string can end
    an HTML block, a table row or a code span."""
    return _CONTROL.sub(_show, str(text))


def inert(text: str) -> str:
    """``text`` with mentions and autolinks broken by a zero-width joiner (GitHub neither pings
    ``@name`` / ``@org/team`` nor links ``https://...``, ``www.``, ``a@b.org``); the text reads the same."""
    return _LIVE.sub(_ZWJ, text)


def md_html(text: Any) -> str:
    """User text inside raw HTML that GitHub's Markdown keeps (``<summary>``): one line, escaped."""
    return inert(html.escape(visible(text), quote=True))


def md_text(text: Any) -> str:
    """Text safe in Markdown prose and table cells: one line (controls shown as escapes), HTML
    escaped, Markdown punctuation neutralised, mentions and autolinks inert."""
    out = html.escape(visible(text), quote=False)
    out = re.sub(r"([\\`*_\[\]#|~!])", r"\\\1", out)
    return inert(" ".join(out.split()))


def md_code(text: Any) -> str:
    """An inline code span that holds any text (fenced by more backticks than it contains);
    controls shown as escapes, ``|`` escaped for table cells (GitHub reads ``\\|`` there as ``|``)."""
    text = " ".join(visible(text).split()).replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(lines: list[str], lang: str = "") -> str:
    """A fenced code block holding ``lines`` verbatim but for control characters other than
    tab (shown as escapes: a line separator inside a line would end the block in a list)."""
    body = "\n".join(_CONTROL.sub(lambda m: m.group() if m.group() == "\t" else _show(m), x) for x in lines)
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"


def _cell_counts(diff: dict[str, Any]) -> str:
    c = diff["counts"]
    if diff["format"] == "text":
        return f"+{c['lines_added']} / -{c['lines_removed']} lines"
    parts = [f"{c[k]} {k}" for k in ("added", "removed", "changed", "moved") if c[k]]
    if c["outputs_changed"]:
        parts.append(f"outputs of {c['outputs_changed']} cell(s) changed")
    return ", ".join(parts) or "content unchanged"


def _what(cell: dict[str, Any]) -> str:
    """What happened to a cell, in words (``changed and moved``, ``outputs changed``)."""
    if cell["change"] == "unchanged":
        return "outputs changed" if cell["outputs_changed"] else "unchanged"
    return cell["change"] + (" and moved" if cell["moved"] and cell["change"] != "moved" else "")


def _outputs_summary(outs: list[dict[str, Any]]) -> str:
    if not outs:
        return "none"
    kinds: dict[str, int] = {}
    for o in outs:
        key = o["mime"] if o["type"] == "image" else o["type"]
        kinds[key] = kinds.get(key, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in kinds.items())


def _md_review(review: dict[str, Any]) -> str:
    status = review["status"]
    out = f"{_ICON.get(status, '')} {md_text(status)}"
    if review["approved_by"]:
        out += " by " + ", ".join(md_text(r) for r in review["approved_by"])
    if review["changes_requested_by"]:
        out += "; changes requested by " + ", ".join(md_text(r) for r in review["changes_requested_by"])
    return out


def _md_target_details(t: dict[str, Any]) -> str:
    diff = t["diff"]
    moved = f" (moved from {md_code(t['old_path'])})" if t["old_path"] else ""
    lines = [f"<details><summary><code>{md_html(t['path'])}</code>: {md_html(t['change'])}, "
             f"{md_html(_cell_counts(diff))}</summary>", "", f"**{md_text(t['kind'])}**{moved}; review: "
             f"{_md_review(t['review'])}"
             + (f"; may approve: {md_text(t['review']['may_approve'])}" if t["review"]["may_approve"] else ""), ""]
    if t.get("damaged"):
        lines += [f"> ⚠️ {md_text(t['damaged'])}: fix the notebook", ""]
    if diff["format"] == "text":
        shown = diff["lines"][:MD_CELL_LINES * 3]
        more = len(diff["lines"]) - len(shown)
        lines.append(md_block(shown + ([f"... {more} more line(s) in the full report"] if more else []), "diff"))
    for cell in diff["cells"]:
        what = _what(cell)
        lines.append(f"- cell {md_code(cell['id'])} ({md_text(cell['cell_type'])}): **{md_text(what)}**")
        if cell["source_diff"]:
            shown = cell["source_diff"][:MD_CELL_LINES]
            more = len(cell["source_diff"]) - len(shown)
            block = md_block(shown + ([f"... {more} more line(s) in the full report"] if more else []), "diff")
            lines.append("\n".join("  " + x for x in block.split("\n")))
        if cell["outputs_changed"]:
            lines.append(f"  - outputs: before {md_text(_outputs_summary(cell['base_outputs']))}; "
                         f"after {md_text(_outputs_summary(cell['head_outputs']))} (side by side in the HTML report)")
    for th in t["threads"]:
        lines.append(_md_thread(th))
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _md_thread(th: dict[str, Any]) -> str:
    state = "resolved" if th["resolved"] else "**open**"
    anchor = f"cell {md_code(th['cell'])}" + (" (outdated: the cell was deleted)" if th["outdated"] else "")
    first = th["comments"][0] if th["comments"] else {"author": "?", "text": ""}
    more = len(th["comments"]) - 1
    return (f"- 💬 thread {md_code(th['id'][:8])} on {anchor}, {state}: {md_text(first['author'])}: "
            f"{md_text(first['text'])}" + (f" (+{more} repl{'y' if more == 1 else 'ies'})" if more > 0 else ""))


def _md_results(results: dict[str, Any] | None) -> list[str]:
    if not results:
        return []
    lines = ["### What the change did to the results", ""]
    for note in results.get("notes", []):
        lines += [f"> {md_text(note)}", ""]
    rows = []
    for task in results["tasks"]:
        runs = _md_runs(task)
        if not task["metrics"] or task["base_run"] is None or task["head_run"] is None:
            # one side has no run: one line for the task, not one per metric
            names = ", ".join(m["name"] for m in task["metrics"])
            rows.append(f"| {md_code(task['task'])} | {md_text(task['why'])} | {runs} | {md_text(names)} | | | | "
                        f"{md_text(task['note'] or '')} |")
            continue
        for m in task["metrics"]:
            fails = "⚠️ " + ", ".join(md_text(f) for f in m["fails"]) if m["fails"] else ""
            values = " | ".join(md_text(_num(v, signed=k == "delta")) for k, v in
                                (("base", m["base"]), ("head", m["head"]), ("delta", m["delta"])))
            rows.append(f"| {md_code(task['task'])} | {md_text(task['why'])} | {runs} | {md_text(m['name'])} | "
                        f"{values} | {fails or md_text(task['note'] or '')} |")
    if rows:
        lines += ["| task | why | runs (commit) | metric | base | head | Δ | |",
                  "|---|---|---|---|---:|---:|---:|---|", *rows, ""]
    models = results.get("models") or []
    if models:
        lines.append("Models whose lineage the change reaches: " + ", ".join(
            md_code(f"{m['name']}" + (f" v{m['version']}" if m.get("version") else "")) for m in models))
        lines.append("")
    return lines


def _md_runs(task: dict[str, Any]) -> str:
    """The commit each side's run was made at (``base abc1234 → head def5678``)."""
    def at(run: dict[str, Any] | None) -> str:
        return md_code(str(run.get("commit") or "?")[:10]) if run else "–"
    return f"base {at(task['base_run'])} → head {at(task['head_run'])}"


def _num(value: Any, signed: bool = False) -> str:
    """A metric value as plain text (the caller escapes it)."""
    if value is None:
        return "–"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:+.4g}" if signed else f"{value:.4g}"
    return str(value)


def render_markdown(report: dict[str, Any], link: str | None = None, limit: int = MARKDOWN_LIMIT) -> str:
    """The report as one GitHub PR comment, at most ``limit`` characters.

    Args:
        report: :func:`.pr.pr_report`'s result.
        link: where the full (HTML) report is, e.g. the CI run's artifact page.
        limit: the length not to exceed (GitHub's comment limit by default).
    """
    budget = min(limit, MARKDOWN_LIMIT) - 2_000
    base, head, gate, summary = report["base"], report["head"], report["gate"], report["summary"]
    lines = ["<!-- nbgov-pr-report -->",  # the marker CI finds to update its one comment
             f"## nbgov review: {md_code(head['ref'])} against {md_code(base['ref'])}", "",
             f"base {md_code((base['commit'] or '')[:10])} → head "
             f"{md_code((head['commit'] or 'working tree')[:10])}", ""]
    if gate["passes"]:
        lines.append("**Gate: ✅ every review target is approved at its current version.**")
    else:
        changed = {t["path"] for t in report["targets"]}
        paths = gate.get("paths") or [r.partition(": ")[0] for r in gate["reasons"]]
        pairs = list(zip(gate["reasons"], paths, strict=False))
        threads_n = sum(1 for r, p in pairs if r[len(p) + 2:].startswith("thread "))
        unapproved = [p for r, p in pairs if not r[len(p) + 2:].startswith("thread ")]
        others = sum(1 for p in unapproved if p not in changed)
        why = []
        if unapproved:
            why.append(f"{len(unapproved)} target(s) not approved at their current version"
                       + (f" ({others} of them not changed here)" if others else ""))
        if threads_n:
            why.append(f"{threads_n} comment thread(s) open")
        lines.append(f"**Gate: ❌ would refuse: {'; '.join(why) or 'see the reasons'}.**")
    lines += ["", f"{summary['targets']} changed target(s): {summary['approved']} approved, "
                  f"{summary['not_approved']} not approved, {summary['deleted']} deleted; "
                  f"{summary['open_threads']} open thread(s).", ""]
    ci = [t["path"] for t in report["targets"] if t.get("ci")]
    if ci:
        lines += ["> [!CAUTION]", "> **CI files changed**: " + ", ".join(md_code(p) for p in ci)
                  + ". They decide what the checks (and this report) run: read them before trusting a green check.",
                  ""]
    if report["trust_changes"]:
        lines += ["> [!WARNING]", "> **Trust settings changed** (who may approve, what must be approved): "
                  + ", ".join(md_code(p) for p in report["trust_changes"])
                  + f". They count only when approved on this branch by someone trusted at {md_code(base['ref'])}.", ""]
    if report["targets"]:
        lines += ["| target | change | review at head | may approve | threads |", "|---|---|---|---|---|"]
        for t in report["targets"]:
            flag = "⚠️ trust: " if t["trust"] else ""
            open_n = sum(1 for th in t["threads"] if not th["resolved"])
            flag += "⚠️ damaged: " if t.get("damaged") else ""
            lines.append(f"| {flag}{md_code(t['path'])} | {md_text(t['change'])} ({md_text(_cell_counts(t['diff']))}) "
                         f"| {_md_review(t['review'])} | {md_text(t['review']['may_approve'] or '–')} | "
                         f"{open_n} open / {len(t['threads'])} |")
        lines.append("")
    else:
        lines += ["No review target changed.", ""]
    head_text = "\n".join(lines)
    tail = "\n".join(_md_results(report.get("results")))
    # --link is the CI's own (not the branch's): a live link when it is a plain http(s) URL
    live = link and re.fullmatch(r"https?://[^\s<>`\x00-\x1f\x7f]+", link)
    pointer = ("the full report: " + (f"<{link}>" if live else md_text(link))) if link else (
        "the full report: " + md_code(f"nbgov review pr --base {base['ref']} --format html -o report.html"))
    body: list[str] = []
    used = len(head_text) + len(tail) + 200
    left_out = []
    for t in report["targets"]:
        details = _md_target_details(t)
        if used + len(details) <= budget:
            body.append(details)
            used += len(details)
        else:
            left_out.append(t["path"])
    if left_out:
        names = ", ".join(md_code(p) for p in left_out[:50]) + (" ..." if len(left_out) > 50 else "")
        body.append(f"_Details of {len(left_out)} target(s) do not fit in one comment ({names}): see {pointer}._\n")
    text = "\n".join([head_text, "### Changes", "", *body, tail,
                      f"<sub>nbgov review pr ({md_text(report['schema'])}); {pointer}</sub>", ""])
    if len(text) > min(limit, MARKDOWN_LIMIT):  # a huge table of targets: cut it, say so
        cut = min(limit, MARKDOWN_LIMIT) - 400
        text = text[:cut].rsplit("\n", 1)[0] + f"\n\n_The report is cut here to fit one comment: see {pointer}._\n"
    return text


# ---------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1f2328;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;
text-align:left}th{background:#f6f8fa}pre{background:#f6f8fa;padding:6px;white-space:pre-wrap;
word-break:break-word;margin:0;font:12px/1.4 ui-monospace,monospace}
.add{background:#e6ffec}.del{background:#ffebe9}.warn{background:#fff8c5;border:1px solid #d4a72c;padding:8px}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#cf222e;font-weight:bold}.cell{margin:.6em 0}
.side{display:grid;grid-template-columns:1fr 1fr;gap:8px}.side>div{min-width:0;border:1px solid #d0d7de;padding:4px}
img{max-width:100%}.muted{color:#656d76}.thread{border-left:3px solid #0969da;padding-left:8px;margin:.4em 0}
"""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def e(text: Any) -> str:
    """HTML-escaped text."""
    return html.escape("" if text is None else str(text), quote=True)


def _h_outputs(outs: list[dict[str, Any]]) -> str:
    parts = []
    for o in outs:
        if o["type"] == "image" and o["data"] and _B64.fullmatch(o["data"]):
            parts.append(f'<img alt="{e(o["text"])}" src="data:{e(o["mime"])};base64,{o["data"]}">')
        else:
            parts.append(f"<pre>{e(o['text'])}</pre>")
    return "".join(parts) or '<span class="muted">no output</span>'


def _h_diff(lines: list[str]) -> str:
    rows = []
    for line in lines:
        cls = "add" if line.startswith("+") else "del" if line.startswith("-") else ""
        rows.append(f'<div class="{cls}">{e(line) or "&nbsp;"}</div>')
    return f"<pre>{''.join(rows)}</pre>"


def _h_thread(th: dict[str, Any]) -> str:
    state = "resolved" if th["resolved"] else "open"
    out = "outdated: the cell was deleted; " if th["outdated"] else ""
    comments = "".join(f"<div><b>{e(c['author'])}</b> <span class=muted>{e(c['at'])}</span>: {e(c['text'])}</div>"
                       for c in th["comments"])
    return (f'<div class="thread"><div class="muted">thread {e(th["id"])} on cell {e(th["cell"])} '
            f"({out}{state})</div>{comments}</div>")


def _h_target(t: dict[str, Any]) -> str:
    r = t["review"]
    moved = f" (moved from <code>{e(t['old_path'])}</code>)" if t["old_path"] else ""
    out = [f'<h2 id="{e(t["path"])}">{"⚠️ trust settings: " if t["trust"] else ""}<code>{e(t["path"])}</code></h2>',
           f"<p>{e(t['kind'])}, {e(t['change'])}{moved}: {e(_cell_counts(t['diff']))}</p>",
           *([f'<p class="warn">{e(t["damaged"])}</p>'] if t.get("damaged") else []),
           f"<p>Review at head: <b>{e(r['status'])}</b>"
           + (f", approved at this version by {e(', '.join(r['approved_by']))}" if r["approved_by"] else "")
           + (f"; changes requested by {e(', '.join(r['changes_requested_by']))}" if r["changes_requested_by"] else "")
           + (f"; changed by {e(', '.join(r['changed_by']))}" if r["changed_by"] else "")
           + (f"; may approve: {e(r['may_approve'])}" if r["may_approve"] else "") + "</p>"]
    diff = t["diff"]
    if diff["format"] == "text":
        out.append(_h_diff(diff["lines"]))
    for cell in diff["cells"]:
        what = _what(cell)
        out.append(f'<div class="cell"><div><b>cell {e(cell["id"])}</b> ({e(cell["cell_type"])}): {e(what)}</div>')
        if cell["source_diff"]:
            out.append(_h_diff(cell["source_diff"]))
        if cell["outputs_changed"] or (cell["change"] in ("added", "removed") and cell["cell_type"] == "code"):
            out.append('<div class="side"><div><div class="muted">base outputs</div>'
                       f"{_h_outputs(cell['base_outputs'])}</div><div><div class=\"muted\">head outputs</div>"
                       f"{_h_outputs(cell['head_outputs'])}</div></div>")
        out.append("</div>")
    out += [_h_thread(th) for th in t["threads"]]
    return "\n".join(out)


def _h_results(results: dict[str, Any] | None) -> str:
    if not results:
        return ""
    rows = []
    for task in results["tasks"]:
        for m in task["metrics"] or [None]:
            if m is None:
                rows.append(f"<tr><td>{e(task['task'])}</td><td>{e(task['why'])}</td><td colspan=4></td>"
                            f"<td>{e(task['note'])}</td></tr>")
                continue
            fails = ("⚠️ " + ", ".join(m["fails"])) if m["fails"] else (task["note"] or "")
            rows.append(f"<tr><td>{e(task['task'])}</td><td>{e(task['why'])}</td><td>{e(m['name'])}</td>"
                        f"<td>{e(_num(m['base']))}</td><td>{e(_num(m['head']))}</td>"
                        f"<td>{e(_num(m['delta'], True))}</td><td>{e(fails)}</td></tr>")
    notes = "".join(f"<p class=muted>{e(n)}</p>" for n in results.get("notes", []))
    models = ", ".join(e(m["name"] + (f" v{m['version']}" if m.get("version") else ""))
                       for m in results.get("models", []))
    header = "<tr><th>task</th><th>why</th><th>metric</th><th>base</th><th>head</th><th>Δ</th><th></th></tr>"
    return ("<h2>What the change did to the results</h2>" + notes + f"<table>{header}{''.join(rows)}</table>"
            + (f"<p>Models whose lineage the change reaches: {models}</p>" if models else ""))


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page: inline styles, images as ``data:`` URIs,
    no script, no request (its Content-Security-Policy forbids both)."""
    base, head, gate, s = report["base"], report["head"], report["gate"], report["summary"]
    reasons = "".join(f"<li>{e(r)}</li>" for r in gate["reasons"])
    verdict = ('<p class="ok">Gate: every review target is approved at its current version.</p>' if gate["passes"]
               else f'<p class="bad">Gate: would refuse</p><ul>{reasons}</ul>')
    trust = ""
    if report["trust_changes"]:
        trust = ('<p class="warn"><b>Trust settings changed</b> (who may approve, what must be approved): '
                 + ", ".join(f"<code>{e(p)}</code>" for p in report["trust_changes"]) + "</p>")
    rows = "".join(
        f'<tr><td><a href="#{e(t["path"])}"><code>{e(t["path"])}</code></a></td><td>{e(t["change"])}</td>'
        f"<td>{e(t['review']['status'])}</td><td>{e(', '.join(t['review']['approved_by']))}</td>"
        f"<td>{e(t['review']['may_approve'] or '')}</td>"
        f"<td>{sum(1 for th in t['threads'] if not th['resolved'])}</td></tr>" for t in report["targets"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>nbgov review: {e(head['ref'])} against {e(base['ref'])}</title><style>{_CSS}</style></head>
<body><h1>nbgov review: <code>{e(head['ref'])}</code> against <code>{e(base['ref'])}</code></h1>
<p class="muted">base {e(base['commit'])} → head {e(head['commit'] or 'working tree')}</p>
{verdict}{trust}
<p>{s['targets']} changed target(s): {s['approved']} approved, {s['not_approved']} not approved,
{s['deleted']} deleted; {s['open_threads']} open thread(s).</p>
<table><tr><th>target</th><th>change</th><th>review at head</th><th>approved by</th><th>may approve</th>
<th>open threads</th></tr>{rows}</table>
{_h_results(report.get('results'))}
{''.join(_h_target(t) for t in report['targets'])}
</body></html>
"""
