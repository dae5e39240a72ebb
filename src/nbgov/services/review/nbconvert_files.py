"""What a task's ``nbconvert_export_kwargs`` make nbconvert read and run, for the review closure
(docs/security.md, R4).

A notebook task with an ``.html`` (``.md``, ``.tex``...) product is converted by nbconvert in
nbgov's own process, through ``nbconvert.export(exporter, nb, **nbconvert_export_kwargs)``: the
keyword arguments are the exporter's options. Templates are unsandboxed Jinja (``{{ lipsum.
__globals__['os'].system(...) }}``), ``extends``/``include`` reach any file of the template
folders, and a folder's ``conf.json`` names preprocessors to import; ``preprocessors`` and
``filters`` given by dotted name are imported. So every file of a template folder the options
name is a target, dotted names are followed as the spec's other dotted paths are, and what
nbgov cannot follow (``config``, a folder outside the project) is refused by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Options naming template folders nbconvert searches (each folder's files may be rendered).
_FOLDERS = ("extra_template_basedirs", "extra_template_paths", "template_paths", "template_data_paths")
#: Options naming classes or functions nbconvert imports by dotted path.
_DOTTED = ("preprocessors", "default_preprocessors")
#: Options that change only how the notebook is written out: nothing read, nothing imported.
_PLAIN = frozenset({
    "exclude_input", "exclude_input_prompt", "exclude_output", "exclude_output_prompt", "exclude_output_stdin",
    "exclude_code_cell", "exclude_markdown", "exclude_raw", "exclude_unknown", "exclude_anchor_links",
    "enabled", "optimistic_validation", "enable_async", "raw_template", "template_extension", "raw_mimetypes",
    "anchor_link_text", "require_js_url", "mathjax_url", "mermaid_js_url", "mermaid_layout_elk_js_url",
    "jquery_url", "jupyter_widgets_base_url", "widget_renderer_url", "html_manager_semver_range", "theme",
    "sanitize_html", "skip_svg_encoding", "lexer_options", "language_code"})
#: Options nbgov follows (files, folders, dotted names) besides the plain ones.
_FOLLOWED = frozenset({"template_file", "template_name", "filters", "embed_images", *_FOLDERS, *_DOTTED})


@dataclass
class NbconvertInputs:
    """Files (with why), dotted names (with why) and what cannot be reviewed."""

    files: dict[Path, str] = field(default_factory=dict)
    dotted: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _folder_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` as Jinja's loader reaches it: through linked folders too
    (each real folder once), nothing skipped but git's own folder; real paths."""
    found, seen = [], set()
    for here, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:  # a link back up: walked already
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if d != ".git")
        found += [Path(os.path.realpath(os.path.join(here, f))) for f in sorted(files)]
    return found


def nbconvert_inputs(kwargs: object, label: str, root: Path, spec_folder: Path,
                     render: Callable[[str, str], str | None]) -> NbconvertInputs:
    """The review targets, dotted names and unreviewable options of one task's
    ``nbconvert_export_kwargs`` (``label`` names the task in reasons; ``render(value, what)``
    resolves a value's placeholders as Ploomber would, None when it cannot). Relative paths are
    read as nbconvert reads them, against the working folder of a build (the project root), and
    against the spec's folder."""
    found = NbconvertInputs()
    if not isinstance(kwargs, dict):
        return found
    where = f"`nbconvert_export_kwargs` of task {label}"

    def _strings(value: Any) -> list[str]:
        values = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
        return [r for v in values if isinstance(v, str) and (r := render(v, where)) is not None]

    def locate(text: str) -> Path | None:
        for base in (root, spec_folder):
            candidate = (base / text).resolve()
            if candidate.exists():
                return candidate
        return None

    def folder(path: Path, key: str) -> None:
        if not path.is_relative_to(root):
            found.problems.append(f"{where}: `{key}` {path} is outside the project; nbconvert would render "
                                  "templates nobody reviews: keep them in the project")
            return
        for file in _folder_files(path):
            if file.is_relative_to(root):
                found.files.setdefault(file, f"in a template folder of {where} (`{key}`)")
            else:  # a link in a template folder: Jinja follows it
                found.problems.append(f"{where}: the template folder {path.relative_to(root).as_posix()} ({key}) "
                                      f"reaches {file}, outside the project, through a symbolic link; nbconvert "
                                      "would render it unreviewed: keep templates in the project")

    for text in _strings(kwargs.get("template_file")):
        if (path := locate(text)) is not None and path.is_file():
            # nbconvert adds the file's folder to its template paths: extends/includes reach it
            folder(path.parent, "template_file")
            found.files[path] = f"template_file of {where}"
    for key in _FOLDERS:
        for text in _strings(kwargs.get(key)):
            if (path := locate(text)) is not None and path.is_dir():
                folder(path, key)
    for name in _strings(kwargs.get("template_name")):
        if "/" in name or "\\" in name or name.startswith("."):  # a path: nbconvert splits it
            found.problems.append(f"{where}: `template_name` {name!r} is a path; name a template (`lab`, "
                                  "`classic`) and its folder with `extra_template_basedirs`")
    for key in _DOTTED:
        found.dotted += [(d, f"`{key}` of {where}") for d in _strings(kwargs.get(key)) if "." in d]
    filters = kwargs.get("filters")
    if isinstance(filters, dict):
        found.dotted += [(d, f"`filters` of {where}") for d in _strings(list(filters.values())) if "." in d]
    if kwargs.get("embed_images") not in (None, False):  # reads images through links, into products
        found.problems.append(f"{where}: `embed_images` reads the files a markdown cell names (through "
                              "symbolic links too) into the product; nbgov cannot review that: leave it off")
    for key in sorted(set(kwargs) - _PLAIN - _FOLLOWED, key=str):
        found.problems.append(f"{where}: `{key}` is not an option nbgov can review (it may name templates, "
                              "files or classes to import); use the exporter's plain options, `template_file`, "
                              "template folders, `preprocessors` or `filters`")
    return found


def exporter_name(name: object, label: str) -> tuple[list[tuple[str, str]], list[str]]:
    """A task's ``nbconvert_exporter_name``: a dotted name is a class nbconvert imports in
    nbgov's process (followed as the spec's other dotted paths); one whose module part is not a
    Python name (``my-exp.Exp``, which ``__import__`` still loads) cannot be followed."""
    if not isinstance(name, str) or "." not in name:
        return [], []
    where = f"`nbconvert_exporter_name` of task {label}"
    module = name.rsplit(".", 1)[0]
    if not all(part.isidentifier() for part in module.split(".")):
        return [], [f"{where}: {name!r} names a module that is not a Python name; nbgov cannot follow it: "
                    "rename the module"]
    return [(name, where)], []
