"""NBG501/NBG502: secrets in cell sources and in decoded text outputs and tracebacks.

Only patterns with a recognisable shape are reported (provider key prefixes, private-key
armour, passwords in URLs, long values assigned to secret-named variables). There is no
generic "high-entropy string" rule: that is what floods on base64 images and hashes. Image
and other binary outputs are not decoded at all. Matched values are never echoed in full.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator

from nbgov.core.checks.model import NotebookContext, Rule

_PATTERNS: list[tuple[str, str]] = [
    ("private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    ("AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    ("GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
    ("GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    (
        "Slack webhook",
        r"https://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+",
    ),
    ("Stripe key", r"\b[rs]k_live_[A-Za-z0-9]{20,}"),
    ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("API key (sk-)", r"\bsk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{32,}"),
    ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("JSON web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    (
        "password in URL",
        r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@'\"<>]{1,64}:(?P<urlpw>[^\s@/'\"<>]{3,128})@[\w.-]+",
    ),
    (
        "secret assigned in code",
        r"(?i:\b[a-z0-9_]*(?P<kw>password|passwd|secret|token|api_?key|apikey|access_?key|"
        r"private_?key|auth_?key|credentials?)[\"']?\s*[:=]\s*[rbu]?[\"'](?P<val>[^\"'\s]{6,})[\"'])",
    ),
]
_SCAN = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p) in enumerate(_PATTERNS)))
# a cheap test before the regex: every pattern holds one of these (lower-cased) fragments
# ("key" stands for api_key, access_key, private_key...: one scan instead of eight)
_HINTS = (
    "-----begin", "akia", "asia", "abia", "acca", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "glpat-", "xox", "hooks.slack", "k_live_", "aiza", "sk-", "hf_", "eyj", "://",
    "passw", "secret", "token", "key", "credential",
)  # fmt: skip
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\*+|x+|\.+|<.*>|\{.*\}|\$.*|%.*|.*(?:changeme|change_me|example|placeholder|"
    r"your[_-]|dummy|redacted|xxxx|\*\*\*|getenv|environ).*)$"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TEXT_MIME = (
    "text/plain",
    "text/html",
    "text/markdown",
    "text/latex",
    "application/json",
    "application/javascript",
)
_MAX_PER_CELL = 5


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


#: kinds whose first characters are a public marker (AKIA, ghp_...), safe to show
_PREFIXED = {"AWS access key id", "GitHub token", "GitLab token", "Slack token", "Stripe key",
             "Google API key", "API key (sk-)", "Hugging Face token", "JSON web token"}  # fmt: skip


def _redact(kind: str, value: str) -> str:
    if kind == "private key":
        return "block"
    shown = value[:4] if kind in _PREFIXED else ""
    return f"{shown}***({len(value)} chars)"


def may_hold_secrets(text: str) -> bool:
    """A cheap test: False when no secret pattern can match anywhere in ``text``."""
    low = text.lower()
    return any(h in low for h in _HINTS)


def find_secrets(text: str) -> Iterator[tuple[int, str]]:
    """``(line, description)`` for each likely secret in ``text`` (1-based lines)."""
    if not may_hold_secrets(text):
        return
    for m in _SCAN.finditer(text):
        # the outer group of a pattern closes last, so lastgroup names the pattern
        kind = _PATTERNS[int(str(m.lastgroup)[1:])][0]
        value = m.group(0)
        if kind == "password in URL":
            value = m.group("urlpw")
            if _PLACEHOLDER.match(value):
                continue
        elif kind == "secret assigned in code":
            value = m.group("val")
            is_password = m.group("kw").lower().startswith("pass")
            if _PLACEHOLDER.match(value) or (
                not is_password and (len(value) < 12 or _entropy(value) < 3.0)
            ):
                continue
        yield text.count("\n", 0, m.start()) + 1, f"{kind} {_redact(kind, value)}"


def _output_texts(output: dict) -> Iterator[tuple[str, str]]:
    otype = output.get("output_type")
    if otype == "stream":
        text = output.get("text", "")
        yield (
            f"{output.get('name', 'stream')} output",
            "".join(text) if isinstance(text, list) else text,
        )
    elif otype == "error":
        tb = "\n".join(output.get("traceback") or [])
        yield "traceback", _ANSI.sub("", f"{output.get('evalue', '')}\n{tb}")
    else:
        for mime, data in (output.get("data") or {}).items():
            # images, PDFs and other binary payloads are base64: never decoded, never scanned
            if mime in _TEXT_MIME or (
                mime.endswith(("+json", "+xml")) and not mime.startswith("image/")
            ):
                if isinstance(data, str):
                    text = data
                elif isinstance(data, list) and not mime.endswith("json"):
                    text = "".join(data)  # validated: a list of strings
                else:
                    text = json.dumps(data)
                yield f"{mime} output", text


def _check_source(ctx: NotebookContext) -> Iterator[tuple]:
    sources = [ctx.source(i) for i in range(len(ctx.cells))]
    if not may_hold_secrets("\n".join(sources)):
        return  # one scan of the whole notebook instead of one per cell
    for index, source in enumerate(sources):
        for n, (line, what) in enumerate(find_secrets(source)):
            if n == _MAX_PER_CELL:
                yield index, line, "more secrets in this cell (not all listed)"
                break
            yield index, line, f"{what} in the cell source"


def _check_outputs(ctx: NotebookContext) -> Iterator[tuple]:
    texts = [(index, number, label, text)
             for index, cell in ctx.code_cells()
             for number, output in enumerate(cell.get("outputs") or [], 1)
             for label, text in _output_texts(output)]  # fmt: skip
    if not texts or not may_hold_secrets("\n".join(t[3] for t in texts)):
        return
    found: dict[int, int] = {}
    for index, number, label, text in texts:
        for line, what in find_secrets(text):
            found[index] = found.get(index, 0) + 1
            if found[index] > _MAX_PER_CELL:
                break
            yield index, None, f"{what} in output {number} ({label}, line {line})"


SECRET_IN_SOURCE = Rule(
    "NBG501",
    "secret-in-source",
    "a secret (key, token, password) is written in a cell",
    "read it from an environment variable or a secrets manager, and rotate the exposed secret",
    _check_source,
)
SECRET_IN_OUTPUT = Rule(
    "NBG502",
    "secret-in-output",
    "a secret (key, token, password) is shown in a cell output",
    'clear the output (nbgov check --fix with outputs = "forbid") and rotate the exposed secret',
    _check_outputs,
)
