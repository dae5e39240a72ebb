"""``nbgov init``: set nbgov up in an existing Ploomber project, the way ``dvc init`` or
``pre-commit install`` do: each file it needs is written when missing, or completed with the
lines it lacks; nothing a user wrote is rewritten. A second run finds nothing to do.

What it writes: nbgov.toml; .gitignore entries for the local tracking store and for the folders
of the products the spec declares (unless git ignores them already), so that ``git add -A`` after
a build commits only what a team shares; ``.nbgov/.gitignore`` (journal, lineage, cache and other
machine-local state); nbgov's hooks in
the pipeline spec (so a plain ``ploomber build`` records runs too); .gitattributes for the
ledger's merge driver; .pre-commit-config.yaml with the nbgov-check hook; a GitHub Actions job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nbgov import __version__
from nbgov.adapters import git
from nbgov.adapters.specfile import read_spec
from nbgov.core.atomic import atomic_write
from nbgov.core.config import CONFIG_FILE, DEFAULT_PIPELINE
from nbgov.core.errors import ConfigError, PipelineError
from nbgov.core.localfiles import MACHINE_LOCAL, NBGOV_DIR
from nbgov.core.tasks import evidence_file, record_file

GITIGNORE = ["/mlflow.db", "/mlflow.db-*", "/mlruns/"]
GITATTRIBUTES = [".nbgov/reviews.jsonl merge=nbgov-ledger"]
HOOKS = {"on_render": "nbgov.hooks.on_render", "on_finish": "nbgov.hooks.on_finish",
         "on_failure": "nbgov.hooks.on_failure"}
CI_FILE = ".github/workflows/nbgov.yml"

PRE_COMMIT = f"""repos:
  - repo: https://github.com/nbgov/nbgov
    rev: v{__version__}
    hooks:
      - id: nbgov-check
"""

CI_JOB = """# nbgov: notebooks fit for production, review history intact, every change approved
name: nbgov
on: [pull_request]
jobs:
  govern:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {fetch-depth: 0}        # ledger verify --against needs main's history
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: pip install nbgov
      - run: nbgov check --format github
      - run: nbgov ledger verify --against origin/main
      - run: nbgov review gate --base origin/main
"""


@dataclass
class Change:
    """One file ``init`` writes: ``created`` or ``updated`` with ``text``, or ``kept`` (a
    ``note`` says why it was left as it is)."""

    path: str
    action: str
    text: str = ""
    added: str = ""
    note: str = ""

    def to_dict(self) -> dict:
        return {"path": self.path, "action": self.action, "added": self.added, "note": self.note}


def plan_init(root: Path) -> list[Change]:
    """What ``nbgov init`` would write in ``root``, changing nothing.

    Raises:
        PipelineError: ``root`` has no pipeline.yaml (init sets up an existing Ploomber project).
    """
    spec = root / DEFAULT_PIPELINE
    if not spec.is_file():
        raise PipelineError(f"no {DEFAULT_PIPELINE} in {root}: nbgov init sets up an existing Ploomber project",
                            hint="run it in the folder of your pipeline.yaml, or pass --project DIR")
    experiment = re.sub(r"[^\w.-]+", "-", root.resolve().name) or "nbgov"
    ignored_products, products_note = product_ignores(root, spec)
    return [
        _whole(root, CONFIG_FILE, f'pipeline = "{DEFAULT_PIPELINE}"\nexperiment = "{experiment}"\n'),
        _lines(root, ".gitignore", [*GITIGNORE, *ignored_products], note=products_note),
        _lines(root, f"{NBGOV_DIR}/.gitignore", list(MACHINE_LOCAL)),
        _hooks(spec),
        _lines(root, ".gitattributes", GITATTRIBUTES),
        _whole(root, ".pre-commit-config.yaml", PRE_COMMIT, needle="nbgov-check",
               note="has no nbgov-check hook: add it by hand (`nbgov init --dry-run` shows the entry)"),
        _whole(root, CI_FILE, CI_JOB),
    ]


def apply(root: Path, changes: list[Change]) -> None:
    """Write the planned files (each atomically)."""
    for change in changes:
        if change.action in ("created", "updated"):
            atomic_write(root / change.path, change.text)


def _whole(root: Path, name: str, text: str, needle: str | None = None, note: str = "") -> Change:
    path = root / name
    if not path.exists():
        return Change(name, "created", text, added=text)
    if needle and needle not in path.read_text(errors="replace"):
        return Change(name, "kept", added=text, note=note)
    return Change(name, "kept")


def _lines(root: Path, name: str, lines: list[str], note: str = "") -> Change:
    path = root / name
    old = path.read_text(errors="replace") if path.exists() else ""
    missing = [line for line in lines if line not in old.splitlines()]
    if not missing:
        return Change(name, "kept", note=note)
    added = "# nbgov\n" + "\n".join(missing) + "\n"
    sep = "" if not old or old.endswith("\n") else "\n"
    return Change(name, "updated" if old else "created", old + sep + added, added=added, note=note)


def product_ignores(root: Path, spec: Path) -> tuple[list[str], str]:
    """``.gitignore`` lines for what builds write next to the products the spec declares (the
    products, Ploomber's ``.NAME.metadata``, nbgov's lineage records and sidecars), leaving
    out what git ignores already; and a note when the products cannot be read from the spec.

    A product's folder is ignored whole (``/products/``): the shallowest folder on its path
    that holds no task source and not the spec. A product in a folder of sources (or at the
    top) is ignored file by file."""
    try:
        spec_file = read_spec(spec)
    except PipelineError:
        return [], ""  # loading the pipeline says what is wrong with it
    if spec_file.location:
        return [], (f"the DAG is built in Python ({spec_file.location}): add the folders of its "
                    "products to .gitignore")
    if spec_file.meta.get("extract_product"):
        return [], "products are declared in the sources (meta.extract_product): add their folders to .gitignore"
    top = root.resolve()
    sources = {_rel(spec_file.source_path(t), top) for t in spec_file.tasks} | {_rel(spec.resolve(), top)}
    held = {"/".join(parts[:i]) for parts in (s.split("/") for s in sources if s) for i in range(1, len(parts))}
    relative_to_source = bool(spec_file.meta.get("product_relative_to_source"))
    lines: list[str] = []
    for task in spec_file.tasks:
        source = spec_file.source_path(task)
        base = source.parent if relative_to_source and source is not None else spec_file.folder
        if task.relation:
            continue  # a table: nothing on disk
        products = task.product.values() if isinstance(task.product, dict) else [task.product]
        for product in products:
            rel = _product_path(product, base, top)
            if rel is not None:
                lines += _ignore_lines(rel, held, task.name)
    lines = list(dict.fromkeys(lines))
    known = git.ignored(root, [_probe(line) for line in lines]) or set()
    return [line for line in lines if _probe(line) not in known], ""


def _rel(path: Path | None, top: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.resolve().relative_to(top).as_posix()
    except ValueError:
        return None


def _product_path(product: object, base: Path, top: Path) -> list[str] | None:
    """The parts of a file product's path relative to the project (up to its first
    placeholder); None for a table product, an absolute path or one outside the project."""
    if not isinstance(product, str) or not product.strip():
        return None
    text = product.strip()
    for prefix in ("{{root}}/", "{{here}}/", "{{ root }}/", "{{ here }}/"):
        if text.startswith(prefix):
            text, base = text[len(prefix):], top
    if Path(text).is_absolute():
        return None
    parts = Path(text).parts
    fixed = []
    for part in parts:
        if "{{" in part or "*" in part:
            break
        fixed.append(part)
    rel = _rel(base / Path(*fixed), top) if fixed else None
    if rel is None or rel == ".":
        return None
    out = rel.split("/")
    # a placeholder in the name (or deeper): only the folders before it are known
    return out if len(fixed) == len(parts) else [*out, "{{}}"]


def _ignore_lines(parts: list[str], held: set[str], task: str) -> list[str]:
    """``/FOLDER/`` for the shallowest folder of a product holding no source; else the file
    and what Ploomber and nbgov write next to it."""
    folders = parts[:-1]
    for i in range(1, len(folders) + 1):
        folder = "/".join(folders[:i])
        if folder not in held:
            return [f"/{folder}/"]
    if parts[-1] == "{{}}":
        return []  # a templated name in a folder of sources: nothing safe to ignore
    where = "/".join(folders)
    where = f"/{where}/" if where else "/"
    return [f"/{'/'.join(parts)}", f"{where}.{parts[-1]}.metadata", where + record_file(task, ".").name,
            where + evidence_file(task, ".").name]


def _probe(line: str) -> str:
    """A path under an ignore line, for ``git check-ignore`` (which needs a path)."""
    line = line.lstrip("/")
    return line + "nbgov-probe" if line.endswith("/") else line


def _hooks(spec: Path) -> Change:
    """nbgov's hooks as top-level keys of the spec, appended as text (the user's formatting and
    comments stay); a hook key the spec already sets to something else is left, with a note."""
    import yaml  # (PyYAML: read the spec's top level only)

    text = spec.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{spec.name} is not valid YAML: {str(exc).splitlines()[0]}",
                          hint="fix it, then run `nbgov init` again") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{spec.name}: nbgov's hooks go into a spec whose top level is a mapping "
                          "(tasks: ...)", hint="declare them by hand: on_finish: nbgov.hooks.on_finish")
    taken = [key for key, value in HOOKS.items() if key in data and data[key] != value]
    missing = {key: value for key, value in HOOKS.items() if key not in data}
    note = (f"{', '.join(taken)} already set: call nbgov's from yours, e.g. nbgov.hooks.on_finish(dag)"
            if taken else "")
    if not missing:
        return Change(spec.name, "kept", note=note)
    added = "# nbgov records the runs of a plain `ploomber build` too\n" + "".join(
        f"{key}: {value}\n" for key, value in missing.items())
    sep = "" if text.endswith("\n") else "\n"
    return Change(spec.name, "updated", text + sep + added, added=added, note=note)
