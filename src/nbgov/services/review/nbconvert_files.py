"""What a task's ``nbconvert_export_kwargs`` make nbconvert read and run, for the review closure
(docs/security.md, R4).

A notebook task with an ``.html`` (``.md``, ``.tex``...) product is converted by nbconvert in
nbgov's own process, through ``nbconvert.export(exporter, nb, **nbconvert_export_kwargs)``: the
keyword arguments are the exporter's options. Templates are unsandboxed Jinja (``{{ lipsum.
__globals__['os'].system(...) }}``), ``extends``/``include`` reach any file of the template
folders, and a folder's ``conf.json`` names preprocessors to import; ``preprocessors`` and
``filters`` given by dotted name are imported. So every file of a template folder the options
name is a target, dotted names are followed as the spec's other dotted paths are, and what
nbgov cannot follow (``config``, a folder outside the project) is refused by name. Paths are
read as nbconvert reads them: lexically (``os.path.abspath``: the folder of a link, not of its
target), so a ``..`` (which the lexical and the physical reading apply differently below a
linked folder) is refused.
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


def _folder_files(folder: str) -> tuple[list[Path], list[Path]]:
    """Every file under ``folder`` (spelled as nbconvert spells it) as Jinja's loader reaches it:
    through linked folders too (each real folder once), nothing skipped but git's own folder;
    real paths. Also the real folders walked (a linked one may lie outside the project)."""
    found, seen = [], set()
    for here, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:  # a link back up: walked already
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if d != ".git")
        found += [Path(os.path.realpath(os.path.join(here, f))) for f in sorted(files)]
    return found, [Path(r) for r in sorted(seen)]


def _lexical(base: Path, text: str) -> str:
    """The absolute path nbconvert makes of ``text`` in the working folder ``base``:
    ``os.path.abspath`` (``..`` applied to the spelling, links left in place), as its
    ``template_file`` observer and Jinja's ``FileSystemLoader`` read it."""
    return os.path.abspath(os.path.join(base, text))


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

    def spelled(text: str, key: str) -> list[str]:
        """The lexical paths ``text`` names in a build's working folder (the root, or the spec's
        folder), existing ones; none, with a problem, when a ``..`` makes the lexical path and the
        physical one differ (``lnk/../t``: nbconvert reads ``t``, a link's parent has its own)."""
        if ".." in text.replace("\\", "/").split("/"):
            found.problems.append(f"{where}: `{key}` {text!r} holds `..`: nbconvert applies it to the spelled "
                                  "path, not through symbolic links, so what it reads may not be what is "
                                  "reviewed; name the path without `..`")
            return []
        return [lexical for base in dict.fromkeys((root, spec_folder))
                if os.path.exists(lexical := _lexical(base, text))]

    def folder(path: str, key: str) -> None:
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(root):
            found.problems.append(f"{where}: `{key}` {path} is outside the project ({real}); nbconvert would "
                                  "render templates nobody reviews: keep them in the project")
            return
        files, walked = _folder_files(path)
        for file in files:
            if file.is_relative_to(root):
                found.files.setdefault(file, f"in a template folder of {where} (`{key}`)")
            else:  # a link in a template folder: Jinja follows it
                found.problems.append(f"{where}: the template folder {real.relative_to(root).as_posix()} ({key}) "
                                      f"reaches {file}, outside the project, through a symbolic link; nbconvert "
                                      "would render it unreviewed: keep templates in the project")
        for sub in walked:  # even empty: files may appear there without a commit
            if not sub.is_relative_to(root):
                found.problems.append(f"{where}: the template folder {real.relative_to(root).as_posix()} ({key}) "
                                      f"leads to {sub}, outside the project, through a symbolic link; nbconvert "
                                      "would render what appears there unreviewed: keep templates in the project")

    for text in _strings(kwargs.get("template_file")):
        for lexical in spelled(text, "template_file"):
            if not os.path.isfile(lexical):
                continue
            # nbconvert's observer sets template_file to the file's name, and runs again: a file of
            # that name in the working folder puts the working folder first on the search path
            name = os.path.basename(lexical)
            if any(os.path.isfile(os.path.join(base, name)) and os.path.dirname(lexical) != os.fspath(base)
                   for base in (root, spec_folder)):
                found.problems.append(f"{where}: `template_file` {text!r}: a file {name!r} is also in the working "
                                      "folder (the project root or the spec's folder); nbconvert would then search "
                                      "that whole folder first and render that file: rename the template")
                continue
            # nbconvert adds the folder of the path as spelled (a link's, not its target's) to
            # its template paths: extends/includes reach every file there; the target's folder
            # is reviewed too (what a reader of the link expects)
            folder(os.path.dirname(lexical), "template_file")
            target = Path(os.path.realpath(lexical))
            if os.fspath(target.parent) != os.path.realpath(os.path.dirname(lexical)):
                folder(os.fspath(target.parent), "template_file")
            if target.is_relative_to(root):
                found.files[target] = f"template_file of {where}"
    for key in _FOLDERS:
        for text in _strings(kwargs.get(key)):
            for lexical in spelled(text, key):
                if os.path.isdir(lexical):
                    folder(lexical, key)
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
