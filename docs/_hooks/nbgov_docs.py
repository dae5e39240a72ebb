"""MkDocs hook: pages whose content comes from the code, so that the site cannot drift from it.

A page asks for generated content with an HTML comment on a line of its own:

- ``<!-- nbgov:rules -->``: every built-in check rule of :mod:`nbgov.core.checks.registry`
  (id, name, scope, on by default or opt-in, ``--fix``, message and hint), a summary table and
  one section per rule (anchor: the lower-case id, e.g. ``checks.md#nbg501``).
- ``<!-- nbgov:schemas -->``: every JSON Schema in ``src/nbgov/core/schemas`` (title,
  description, top-level fields, and the whole schema).

An unknown ``nbgov:`` marker fails the build: a typo must not leave a hole in the page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_MARKER = re.compile(r"^<!-- nbgov:([a-z-]+) -->$", re.MULTILINE)
_SCHEMAS = Path(__file__).resolve().parents[2] / "src" / "nbgov" / "core" / "schemas"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def rules_markdown() -> str:
    """The built-in check rules, from the registry nbgov check itself uses."""
    from nbgov.core.checks.registry import load_registry

    rules = list(load_registry(plugins=False))
    lines = [
        "| id | name | scope | default | `--fix` | what it finds |",
        "|---|---|---|---|---|---|",
    ]
    for rule in rules:
        lines.append(
            f"| [{rule.id}](#{rule.id.lower()}) | `{rule.name}` | {rule.scope} | "
            f"{'on' if rule.default else 'opt-in'} | {'yes' if rule.fix else ''} | {_cell(rule.message)} |"
        )
    for rule in rules:
        lines += [
            "",
            f"### {rule.id} `{rule.name}` {{#{rule.id.lower()}}}",
            "",
            f"{rule.message}.",
            "",
            f"- **Scope**: {'one notebook at a time' if rule.scope == 'notebook' else 'the project (pipeline.yaml)'}",
            f"- **Default**: {'on' if rule.default else f'off; turn it on with `extend-select = [{rule.id!r}]`'}",
            f"- **`nbgov check --fix`**: {'fixes it' if rule.fix else 'no automatic fix'}",
            f"- **How to fix**: {rule.hint}",
            f"- **Silence it**: `# nbgov: ignore[{rule.id}]` in the cell, or `ignore = [\"{rule.name}\"]` in `[check]`",
        ]
    return "\n".join(lines)


def _type_of(spec: dict) -> str:
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    if "enum" in spec:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in spec["enum"])
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    kind = spec.get("type", "any")
    return " or ".join(kind) if isinstance(kind, list) else kind


def schemas_markdown() -> str:
    """One section per schema file: its fields in a table, then the schema itself."""
    out: list[str] = []
    for path in sorted(_SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        required = set(schema.get("required", []))
        out += [
            f"## {schema.get('title', path.stem)}",
            "",
            f"File `src/nbgov/core/schemas/{path.name}`, `$id` `{schema.get('$id', '')}`.",
            "",
            schema.get("description", ""),
            "",
            "| field | type | required | description |",
            "|---|---|---|---|",
        ]
        for name, spec in schema.get("properties", {}).items():
            out.append(
                f"| `{name}` | {_cell(_type_of(spec))} | {'yes' if name in required else ''} | "
                f"{_cell(spec.get('description', ''))} |"
            )
        out += ["", f'??? note "The whole schema: {path.name}"', "", "    ```json"]
        out += ["    " + line for line in json.dumps(schema, indent=2).splitlines()]
        out += ["    ```", ""]
    return "\n".join(out)


_GENERATORS = {"rules": rules_markdown, "schemas": schemas_markdown}


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs' signature)
    """Replace each ``<!-- nbgov:NAME -->`` marker with its generated Markdown."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in _GENERATORS:
            raise ValueError(f"{page.file.src_path}: unknown marker nbgov:{name} (known: {', '.join(_GENERATORS)})")
        return _GENERATORS[name]()

    return _MARKER.sub(replace, markdown)


def on_page_content(html: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs' signature)
    """mkdocs-click prints an option without a default as click's ``Sentinel.UNSET`` (click 8.3+):
    show what mkdocs-click shows for ``None``."""
    return html.replace("<code>Sentinel.UNSET</code>", "None")
