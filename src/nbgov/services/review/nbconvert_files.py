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

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Options naming template folders nbconvert searches (each folder's files may be rendered).
_FOLDERS = ("extra_template_basedirs", "extra_template_paths", "template_paths")
#: Folders never searched for templates (virtualenvs, caches, git).
_SKIP = {".venv", "venv", "site-packages", "node_modules", "__pycache__", ".git"}


@dataclass
class NbconvertInputs:
    """Files (with why), dotted names (with why) and what cannot be reviewed."""

    files: dict[Path, str] = field(default_factory=dict)
    dotted: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _folder_files(folder: Path, root: Path) -> list[Path]:
    return sorted(p.resolve() for p in folder.rglob("*")
                  if p.is_file() and not _SKIP & set(p.relative_to(folder).parts)
                  and p.resolve().is_relative_to(root))


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
        for file in _folder_files(path, root):
            found.files.setdefault(file, f"in a template folder of {where} (`{key}`)")

    for text in _strings(kwargs.get("template_file")):
        if (path := locate(text)) is not None and path.is_file():
            # nbconvert adds the file's folder to its template paths: extends/includes reach it
            folder(path.parent, "template_file")
            found.files[path] = f"template_file of {where}"
    for key in _FOLDERS:
        for text in _strings(kwargs.get(key)):
            if (path := locate(text)) is not None and path.is_dir():
                folder(path, key)
    name = next(iter(_strings(kwargs.get("template_name"))), None)
    if name is not None and "/" in name and (path := locate(name.rsplit("/", 1)[0])) is not None:
        folder(path, "template_name")  # a 5.x style name with its folder
    for key in ("preprocessors", "extra_loaders"):
        found.dotted += [(d, f"`{key}` of {where}") for d in _strings(kwargs.get(key)) if "." in d]
    filters = kwargs.get("filters")
    if isinstance(filters, dict):
        found.dotted += [(d, f"`filters` of {where}") for d in _strings(list(filters.values())) if "." in d]
    if "config" in kwargs:
        found.problems.append(f"{where}: `config` cannot be reviewed by nbgov (it may name templates and "
                              "classes to import); give the exporter's options directly instead")
    return found
