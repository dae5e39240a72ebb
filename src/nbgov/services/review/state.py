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
from nbgov.adapters.notebooks import content_version, is_text_notebook, read_source, source_version
from nbgov.core import targets
from nbgov.core.config import Config
from nbgov.core.errors import (
    ConfigError,
    GateError,
    Location,
    NotebookError,
    ReviewError,
)
from nbgov.core.ledger import (
    APPROVED,
    DECISIONS,
    ReviewRecord,
    by_notebook,
    decision_name,
    instant,
    new_record,
    status_of,
    utc_now,
)
from nbgov.services.review import store, trust
from nbgov.services.review.base import TrustBase
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
            "path is outside the project",
            Location(notebook),
            hint=f"the project root is {config.root}",
        ) from None
    return path, rel


def read_current(config: Config, notebook: str | Path) -> tuple[Path, str, dict[str, Any] | str, str]:
    """(absolute path, relative path, content, current version) of a notebook or other task
    source: the content is a notebook dict (``.ipynb``) or the exact text of a ``.py`` /
    ``.sql`` / ``.sh``... file (versioned ``srcv2``, see :mod:`nbgov.core.tasks`).

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
                  versions: dict[str, str] | None = None,
                  settings: ReviewSettings | None = None) -> list[ReviewState]:
    """The review status of several notebooks, reading the ledger once. Same errors as above.

    ``versions`` (project-relative path -> current version, e.g. from the build plan, valid
    while the files are unchanged) spares reading those notebooks again; ``settings`` (e.g.
    read at a trust base, :mod:`.base`) replace the working tree's ``[review]``."""
    settings = settings or ReviewSettings.from_config(config)
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


def writer(config: Config, reviewer: str | None, sign_key: str | Path | None) -> tuple:
    """What every record written to the ledger needs, checked before anything is read or
    written: ``(settings, reviewer, signing key, git repository or None, HEAD commit)``. Refuses a missing signing key
    where signing is required, and a ledger whose committed records were changed."""
    settings = ReviewSettings.from_config(config)
    who = resolve_reviewer(config, reviewer)
    key = trust.signing_key(settings, sign_key)
    trust.require_signing_key(settings, key)
    trust.check_committed(config, settings, store.read_records(settings.ledger))
    repo = git.repo_root(config.root)
    commit = git.head(repo)[0] if repo else None
    return settings, who, key, repo, commit


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


def _four_eyes(config: Config, settings: ReviewSettings, path: Path, rel: str, reviewer: str,
               since: str | None) -> tuple[str | None, list[str]]:
    """(latest author, every identity that changed the target since commit ``since``, its
    last approval); refused when the reviewer is any of them (invariant I6)."""
    author, how = change_author(config, path)
    changed = list(trust.changed_by(config, rel, since))
    if author is not None and how.startswith("uncommitted"):
        changed.insert(0, str(author))  # the one editing the working copy
    changed = list(dict.fromkeys(changed))
    if settings.allow_self_approval:
        return (str(author) if author else None), changed
    hint = "ask another reviewer, or set allow_self_approval = true under [review] in nbgov.toml"
    if author is None:
        raise ReviewError(
            f"cannot tell who authored the latest change to {rel} ({how}), so the "
            "four-eyes rule cannot be checked",
            Location(rel),
            hint,
            exit_code=1,  # a refusal (the four-eyes rule), not bad input
        )
    me = git.Person.parse(reviewer)
    if author.same_as(me):
        raise ReviewError(
            f"refusing self-approval: the latest change to {rel} was authored by "
            f"{author} ({how}), and the reviewer is {reviewer}",
            Location(rel),
            hint,
            exit_code=1,
        )
    for identity in changed:
        if git.Person.parse(identity).same_as(me):
            raise ReviewError(f"refusing self-approval: {identity} changed {rel} since its last approval, "
                              f"and the reviewer is {reviewer}", Location(rel), hint, exit_code=1)
    return str(author), changed


def _check_clock(rel: str, records: list[ReviewRecord], now: str) -> None:
    """An approval made "before" a changes request never clears it (invariant I4): refuse one
    that a clock running behind would date before the newest request, rather than record an
    approval that silently does not count."""
    newest = max((r.at for r in records if r.decision == "changes_requested"), key=instant, default=None)
    if newest is not None and instant(now) < instant(newest):
        raise ReviewError(f"this machine's clock ({now}) is behind the changes request on {rel} ({newest}): "
                          "an approval dated before it would not count", Location(rel),
                          hint="set the clock right (NTP), then approve again")


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
    decision = decision_name(decision)
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r}", hint=f"one of: {', '.join(DECISIONS)}")
    settings, who, key, repo, commit = writer(config, reviewer, sign_key)
    makers, views, keys = [], {}, []
    grouped = by_notebook(trust.counted_records(config, settings))
    now = utc_now()
    for notebook in notebooks:
        path, rel, nb, version = read_current(config, notebook)
        authors = None
        if decision == "approved":
            # since the last approval that counts: its commit bounds "who changed it"
            since = next((r.commit for r in reversed(grouped.get(rel, [])) if r.decision == "approved"), None)
            author, authors = _four_eyes(config, settings, path, rel, who, since)
            _check_clock(rel, grouped.get(rel, []), now)
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
            authors=authors,
            at=now,
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


def require_approved(config: Config, notebooks: list[str | Path], base: TrustBase | None = None) -> None:
    """The approval gate: pass only if every notebook is approved at its current version.

    With ``base`` (:func:`.base.trust_base`), the records count by the base's rules and the
    trust files the branch changed must be approved too (invariant I7).

    Raises:
        GateError: listing every notebook that is not, as ``"<path>: <status>"``.
        NotebookError, LedgerError: a notebook or the ledger cannot be read.
    """
    reasons, kinds, paths = [], [], []
    trust_files = list(base.changed if base else ())
    present = [f for f in trust_files if (config.root / f).is_file()]
    settings = base.settings if base else None
    plain = [n for n in notebooks if relative_path(config, n)[1] not in present]
    states = review_states(config, plain, settings=settings)
    if base is not None:
        # a changed trust file needs an approval made on the branch: an older approval of the
        # same content would let a revert undo a revocation (a leaked key put back)
        states += _states_after(config, present, settings, base.base_records)
    for state in states:
        if state.status != APPROVED:
            why = f" (trust settings changed since {base.rev})" if state.path in trust_files else ""
            reasons.append(f"{state.path}: {state.status}{why}")
            kinds.append(target_kind(config, state.path))
            paths.append(state.path)
    deleted = [f for f in trust_files if f not in present]
    reasons += [f"{f}: deleted (trust settings changed since {base.rev})" for f in deleted]
    kinds += [target_kind(config, f) for f in deleted]
    paths += deleted
    if reasons:
        raise GateError(
            f"{targets.count(kinds)} not approved at their current version",
            hint="see what changed: nbgov diff PATH; then: nbgov review approve PATH",
            reasons=reasons, paths=paths,
        )


def _states_after(config: Config, paths: list[str], settings: ReviewSettings | None,
                  after: int) -> list[ReviewState]:
    """The states of ``paths`` counting only the ledger's records after the first ``after``."""
    settings = settings or ReviewSettings.from_config(config)
    grouped = by_notebook([r for r in trust.counted_records(config, settings) if r.seq > after])
    states = []
    for path in paths:
        _, rel, _, version = read_current(config, path)
        states.append(_state(rel, version, grouped.get(rel, []), settings))
    return states


def target_kind(config: Config, path: str | Path) -> str:
    """What a review target is, for messages: notebook, script, module, SQL file..."""
    full = config.root / path
    return targets.kind_of(full, full.suffix == ".py" and is_text_notebook(full))


def describe_targets(config: Config, paths: list[str]) -> str:
    """``2 notebooks and 1 module``: the review targets ``paths`` by kind."""
    return targets.count([target_kind(config, p) for p in paths])


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
