"""Notebook reviews: status, decisions (four-eyes), the approval gate, diffs, ledger checks.

This is the API the CLI, the build (gate + MLflow tags) and the JupyterLab server extension
call. Notebook paths may be absolute or relative to the project root; they are stored relative
to the root, posix. :func:`review_state` and :func:`review_states` import neither nbformat nor
nbdime, and reuse the parsed ledger while the file is unchanged, so they are cheap per request.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nbgov.adapters import git
from nbgov.adapters.nbdime import review_view
from nbgov.adapters.notebooks import content_version, read_source, source_version
from nbgov.adapters.ploomber.sources import source_files
from nbgov.core.config import Config
from nbgov.core.errors import (
    ConfigError,
    GateError,
    LedgerError,
    Location,
    NotebookError,
    ReviewError,
)
from nbgov.core.ledger import (
    APPROVED,
    DECISIONS,
    ReviewRecord,
    by_notebook,
    check_prefix,
    new_record,
    parse_ledger,
    status_of,
)
from nbgov.services.review import store, trust
from nbgov.services.review.store import ReviewSettings

#: Environment variable that overrides the reviewer identity (after ``--reviewer``).
REVIEWER_ENV = "NBGOV_REVIEWER"


@dataclass
class ReviewState:
    """The review status of one notebook now.

    Attributes:
        path: notebook path relative to the project root, posix.
        status: ``approved`` | ``stale`` | ``changes-requested`` | ``unreviewed``.
        version: the notebook's current ``nbv1`` version.
        approved_version: the version of its latest approval, if any.
        last: its latest record ``{"decision", "reviewer", "at", "note", "version"}``, if any.
    """

    path: str
    status: str
    version: str
    approved_version: str | None
    last: dict | None

    def to_dict(self) -> dict:
        """JSON-ready form (used by ``--json`` and the server API)."""
        return asdict(self)


def relative_path(config: Config, notebook: str | Path) -> tuple[Path, str]:
    """(absolute path, path relative to the project root in posix form) of a notebook.

    Raises:
        NotebookError: the path is outside the project root.
    """
    path = Path(notebook)
    path = (path if path.is_absolute() else config.root / path).resolve()
    try:
        rel = path.relative_to(config.root.resolve()).as_posix()
    except ValueError:
        raise NotebookError(
            "notebook is outside the project",
            Location(notebook),
            hint=f"the project root is {config.root}",
        ) from None
    return path, rel


def read_current(config: Config, notebook: str | Path) -> tuple[Path, str, dict[str, Any] | str, str]:
    """(absolute path, relative path, content, current version) of a notebook or other task
    source: the content is a notebook dict (``.ipynb``, ``.py`` scripts and modules) or the
    text of a ``.sql`` / ``.sh``... file (versioned ``srcv1``, see :mod:`nbgov.core.tasks`).

    Raises:
        NotebookError: outside the project, missing or unreadable.
    """
    path, rel = relative_path(config, notebook)
    content = read_source(path)
    return path, rel, content, content_version(content)


def _state(rel: str, version: str, records: list[ReviewRecord],
           settings: ReviewSettings | None = None) -> ReviewState:
    status, approved_version, last = status_of(records, version)
    summary = last.summary() if last else None
    if summary is not None and settings is not None:
        summary["signature"] = trust.verdict(last, settings).state  # the badge shows it
    return ReviewState(rel, status, version, approved_version, summary)


def review_state(config: Config, notebook: str | Path) -> ReviewState:
    """The review status of one notebook now.

    Raises:
        NotebookError: the notebook is missing or unreadable.
        LedgerError: the ledger does not parse or verify.
    """
    return review_states(config, [notebook])[0]


def review_states(config: Config, notebooks: list[str | Path],
                  versions: dict[str, str] | None = None) -> list[ReviewState]:
    """The review status of several notebooks, reading the ledger once. Same errors as above.

    ``versions`` (project-relative path -> current version, e.g. from the build plan, valid
    while the files are unchanged) spares reading those notebooks again."""
    settings = ReviewSettings.from_config(config)
    grouped = by_notebook(trust.counted_records(config, settings))
    states = []
    for notebook in notebooks:
        _, rel = relative_path(config, notebook)
        version = (versions or {}).get(rel)
        if version is None:
            _, rel, _, version = read_current(config, notebook)
        states.append(_state(rel, version, grouped.get(rel, []), settings))
    return states


def notebook_versions(notebooks: list[str | Path]) -> dict[str, str]:
    """``{path as given: nbv1 version}`` of each notebook (no project needed).

    Raises:
        NotebookError: a notebook is missing or unreadable.
    """
    return {str(nb): source_version(nb) for nb in notebooks}


def notebook_log(config: Config, notebook: str | Path) -> list[dict[str, Any]]:
    """Every ledger record of one notebook, oldest first (the notebook need not exist any more)."""
    settings = ReviewSettings.from_config(config)
    _, rel = relative_path(config, notebook)
    return [r.to_dict() for r in store.read_records(settings.ledger) if r.notebook == rel]


def resolve_reviewer(config: Config, reviewer: str | None = None) -> str:
    """Who is deciding: ``reviewer``, else $NBGOV_REVIEWER, else [review] reviewer, else git's user.

    Raises:
        ConfigError: none of them gives a name.
    """
    for candidate in (
        reviewer,
        os.environ.get(REVIEWER_ENV) or None,  # set but empty: as if unset
        ReviewSettings.from_config(config).reviewer,
    ):
        if candidate is not None:
            if not candidate.strip():
                raise ConfigError("empty reviewer name", hint='give --reviewer "Name <email>"')
            return candidate.strip()
    person = git.user(config.root)
    if person is None:
        raise ConfigError(
            "no reviewer identity: git user.name/user.email are not set",
            hint=f"run git config user.name ..., set [review] reviewer, ${REVIEWER_ENV}, "
            "or pass --reviewer",
        )
    return str(person)


def change_author(config: Config, path: Path) -> tuple[git.Person | None, str]:
    """Who authored the latest change to a notebook, and how that is known.

    The author of the last commit touching the file when the working copy of it is clean;
    the current git user when it has uncommitted changes (they are the one editing it).
    """
    root = git.repo_root(config.root)
    if root is None:
        return None, "not in a git repository"
    if git.is_modified(root, path):
        return git.user(root), "uncommitted changes in the working copy"
    found = git.last_author(root, path)
    if found is None:
        return None, "no commit touches it"
    return found[0], f"commit {found[1][:10]}"


def _four_eyes(
    config: Config, settings: ReviewSettings, path: Path, rel: str, reviewer: str
) -> str | None:
    author, how = change_author(config, path)
    if settings.allow_self_approval:
        return str(author) if author else None
    hint = "ask another reviewer, or set allow_self_approval = true under [review] in nbgov.toml"
    if author is None:
        raise ReviewError(
            f"cannot tell who authored the latest change to {rel} ({how}), so the "
            "four-eyes rule cannot be checked",
            Location(rel),
            hint,
        )
    if author.same_as(git.Person.parse(reviewer)):
        raise ReviewError(
            "refusing self-approval: the latest change to the notebook was authored by "
            f"{author} ({how}), and the reviewer is {reviewer}",
            Location(rel),
            hint,
        )
    return str(author)


def record_decision(
    config: Config, notebook: str | Path, decision: str, note: str = "", reviewer: str | None = None,
    sign_key: str | Path | None = None,
) -> ReviewState:
    """Record a review decision on a notebook's current version and return its new state.

    Args:
        config: the project.
        notebook: the notebook path.
        decision: ``approved``, ``changes_requested`` or ``comment``.
        note: free text kept with the record.
        reviewer: who decides (default: see :func:`resolve_reviewer`).
        sign_key: SSH key that signs the record (default ``[review] signing_key``; a ``.pub``
            means the private key is in ssh-agent); None: unsigned.

    Raises:
        ReviewError: the four-eyes rule refuses the approval, or the decision is unknown.
        NotebookError, LedgerError, ConfigError: bad input; the ledger is left untouched.
    """
    return record_decisions(config, [notebook], decision, note, reviewer, sign_key)[0]


def record_decisions(
    config: Config,
    notebooks: list[str | Path],
    decision: str,
    note: str = "",
    reviewer: str | None = None,
    sign_key: str | Path | None = None,
) -> list[ReviewState]:
    """Record one decision on several notebooks: every record is appended, or none is.

    All notebooks are read and (for approvals) checked against the four-eyes rule before the
    ledger is touched. Same arguments and errors as :func:`record_decision`.
    """
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r}", hint=f"one of: {', '.join(DECISIONS)}")
    settings = ReviewSettings.from_config(config)
    who = resolve_reviewer(config, reviewer)
    key = trust.signing_key(settings, sign_key)
    trust.require_signing_key(settings, key)
    trust.check_committed(config, settings, store.read_records(settings.ledger))
    repo = git.repo_root(config.root)
    commit, _ = git.head(repo) if repo else (None, False)
    makers, views, keys = [], {}, []
    for notebook in notebooks:
        path, rel, nb, version = read_current(config, notebook)
        if decision == "approved":
            author = _four_eyes(config, settings, path, rel, who)
            # a text source's snapshot is its text; a notebook's is its cells without outputs
            views[version] = review_view(nb) if isinstance(nb, dict) else nb
        else:
            found, _ = change_author(config, path)
            author = str(found) if found else None
        fields = dict(
            notebook=rel,
            version=version,
            decision=decision,
            reviewer=who,
            note=note,
            commit=commit,
            dirty=git.is_modified(repo, path) if repo else None,
            author=author,
        )
        makers.append(lambda previous, fields=fields: trust.signed_record(
            settings, key, new_record(previous, **fields, sign=trust.signer(key))))
        keys.append((rel, version))

    def keep_snapshots() -> None:
        for version, view in views.items():
            store.write_snapshot(settings.snapshots, version, view)

    store.append(settings.ledger, makers, keep_snapshots)
    grouped = by_notebook(trust.counted_records(config, settings))
    return [_state(rel, version, grouped.get(rel, []), settings) for rel, version in keys]


def require_approved(config: Config, notebooks: list[str | Path]) -> None:
    """The approval gate: pass only if every notebook is approved at its current version.

    Raises:
        GateError: listing every notebook that is not, as ``"<path>: <status>"``.
        NotebookError, LedgerError: a notebook or the ledger cannot be read.
    """
    bad = [s for s in review_states(config, notebooks) if s.status != APPROVED]
    if bad:
        raise GateError(
            f"{len(bad)} notebook(s) not approved at their current version",
            hint="see what changed: nbgov diff NOTEBOOK; then: nbgov review approve NOTEBOOK",
            reasons=[f"{s.path}: {s.status}" for s in bad],
        )


def gate_required(config: Config, env: str | None = None) -> bool:
    """Whether ``[environments.<env>] require_approved`` turns the gate on (default: off).

    Raises:
        ConfigError: the environment is unknown or the switch is not a boolean.
    """
    value = config.env_settings(env).get("require_approved", False)
    if not isinstance(value, bool):
        raise ConfigError(
            f"[environments.{env or config.environment}] require_approved must be true or false",
            Location(config.source),
        )
    return value


def verify_ledger(config: Config, against: str = "HEAD") -> dict[str, Any]:
    """Verify the ledger's chain, and that it extends the ledger committed at git ``against``.

    Args:
        config: the project.
        against: a git revision whose ledger must be a prefix of this one (``HEAD`` by default;
            in CI, e.g. ``origin/main`` catches a branch that rewrote reviews). No check when
            the ledger is not in git at that revision.

    Returns:
        ``{"path", "records", "notebooks", "head", "checked_against_git", "missing_snapshots"}``
        (``checked_against_git`` is the revision checked, or None).

    Raises:
        LedgerError: naming the first bad record.
    """
    settings = ReviewSettings.from_config(config)
    records = store.read_records(settings.ledger)
    checked = None
    repo = git.repo_root(config.root)
    if repo is not None:
        rel = Path(os.path.relpath(settings.ledger, repo)).as_posix()
        if git.is_tracked(repo, rel, against):
            committed = git.show_file(repo, against, rel).decode("utf-8", errors="replace")
            label = f"the ledger committed at {against}"
            check_prefix(
                parse_ledger(committed, f"{against}:{rel}"), records, settings.ledger, label
            )
            checked = against
        elif against != "HEAD" and not git.rev_exists(repo, against):
            raise LedgerError(
                f"unknown git revision {against!r}", hint="e.g. --against origin/main"
            )
    approved = {r.version for r in records if r.decision == "approved"}
    missing = sorted(v for v in approved if not store.snapshot_path(settings.snapshots, v).exists())
    signatures = trust.signature_report(config, settings)
    return {
        "signatures": signatures,
        "require_signed": settings.require_signed,
        "path": str(settings.ledger),
        "records": len(records),
        "notebooks": len({r.notebook for r in records}),
        "head": records[-1].hash if records else None,
        "checked_against_git": checked,
        "missing_snapshots": missing,
    }


def merge_ledger(base: str | Path, ours: str | Path, theirs: str | Path) -> int:
    """Merge two branches' ledgers into ``ours``; the git merge driver (``%O %A %B``).

    Returns:
        How many records were taken from ``theirs``.

    Raises:
        LedgerError: a copy does not verify or they do not share ``base`` (``ours`` untouched).
    """
    return store.merge_files(Path(base), Path(ours), Path(theirs))


# --- which notebooks ---------------------------------------------------------------------------

_SKIP_DIRS = {"node_modules", "__pycache__", "venv", "site-packages"}


def _is_text_notebook(path: Path) -> bool:
    # a .py file is a notebook when jupytext wrote it (header) or it has percent cell markers
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return False
    return "jupytext:" in head[:2000] or head.startswith("# %%") or "\n# %%" in head


def _walk(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        found += [Path(dirpath) / name for name in sorted(filenames)]
    return found


def _notebooks_under(folder: Path) -> list[Path]:
    """Notebooks in a folder: the files git knows there (tracked, or untracked and not ignored),
    or every file outside git; hidden folders skipped; ``.ipynb`` and py:percent notebooks."""
    if git.repo_root(folder) is not None:
        names = git.ls_files(folder, "*.ipynb", "*.py")
        files = [
            folder / n for n in names if not any(p.startswith(".") for p in Path(n).parts[:-1])
        ]
    else:
        files = _walk(folder)
    return [
        f
        for f in files
        if f.is_file() and (f.suffix == ".ipynb" or (f.suffix == ".py" and _is_text_notebook(f)))
    ]


def _task_sources(config: Config) -> list[Path]:
    """The pipeline's task source files inside the project (no Ploomber import)."""

    root = config.root.resolve()
    return [f for f in source_files(config.pipeline_path) if f.is_relative_to(root)]


def discover_notebooks(config: Config, paths: list[str | Path] | None = None) -> list[str]:
    """Notebook paths (relative to the root, posix) for ``review status`` and ``review gate``.

    Files are taken as given; folders are searched (:func:`_notebooks_under`). With no paths:
    ``[review] paths`` if set, else the whole project, plus the notebooks in the ledger that
    still exist.

    Raises:
        NotebookError: a path given does not exist or is outside the project.
    """
    settings = ReviewSettings.from_config(config)
    default = not paths
    out: list[str] = []
    for p in paths or list(settings.paths) or [config.root]:
        path, rel = relative_path(config, p)
        if path.is_dir():
            out += [relative_path(config, f)[1] for f in _notebooks_under(path)]
        elif path.exists():
            out.append(rel)
        else:
            raise NotebookError("notebook not found", Location(p), hint="check the path")
    if default and not settings.paths:
        # every task's source file, of any kind (light scripts, function modules, .sql, .sh)
        out += [relative_path(config, f)[1] for f in _task_sources(config)]
        records = store.read_records(settings.ledger)
        out += [r.notebook for r in records if (config.root / r.notebook).is_file()]
    return sorted(dict.fromkeys(out))


def survey(
    config: Config, paths: list[str | Path] | None = None
) -> tuple[list[ReviewState], list[NotebookError]]:
    """The states of every notebook :func:`discover_notebooks` finds, and the errors of those
    that cannot be read (so one damaged notebook does not hide the others' status).

    Raises:
        LedgerError, ConfigError: the ledger or the configuration is bad.
        NotebookError: a path given does not exist.
    """
    settings = ReviewSettings.from_config(config)
    grouped = by_notebook(trust.counted_records(config, settings))
    states, errors = [], []
    for rel in discover_notebooks(config, paths):
        try:
            _, _, _, version = read_current(config, rel)
        except NotebookError as exc:
            errors.append(exc)
            continue
        states.append(_state(rel, version, grouped.get(rel, []), settings))
    return states, errors
