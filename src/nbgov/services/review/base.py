"""The trust base: the rules a gate reads from a git revision (in CI, the PR's base branch),
not from the branch under review (docs/security.md, invariant I7).

A pull request can edit every file on its branch, including the settings that say who may
approve and what must be approved. So ``nbgov review gate --base REF`` and
``nbgov ledger verify --against REF`` read them at ``REF``:

- ``[review]`` (where the ledger is, ``require_signed``, ``paths``, ``allow_self_approval``)
  and ``[environments.*]`` from the configuration file committed at ``REF``;
- the allowed signers from the file ``[review] allowed_signers`` names at ``REF``, as
  committed there;

and a change to either file between ``REF`` and the working tree is itself a review target
("trust target"), which must be approved like a notebook, under the base's rules.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgov.adapters import git
from nbgov.core.config import CONFIG_FILE, DEFAULT_PIPELINE, Config
from nbgov.core.errors import ConfigError, LedgerError, Location
from nbgov.core.ledger import check_prefix, parse_ledger
from nbgov.services.review import history, store
from nbgov.services.review.store import ReviewSettings


@dataclass(frozen=True)
class TrustBase:
    """The rules read at a git revision.

    Attributes:
        rev: the revision, as given (e.g. ``origin/main``).
        config: the project's configuration as committed at ``rev`` (same root).
        settings: ``[review]`` at ``rev``, with the allowed signers' content at ``rev``.
        changed: trust files (paths relative to the project root) that differ between
            ``rev`` and the working tree: review targets of their own.
        base_records: how many records the ledger holds at ``rev``; a changed trust file
            needs an approval among the records after them (made on the branch).
    """

    rev: str
    config: Config
    settings: ReviewSettings
    changed: tuple[str, ...]
    base_records: int = 0


def _repo(config: Config, rev: str) -> Path:
    repo = git.repo_root(config.root)
    if repo is None:
        raise ConfigError(f"a trust base ({rev}) needs a git repository", Location(config.root),
                          hint="run in a git clone, or leave out --base")
    if not git.rev_exists(repo, rev):
        raise LedgerError(f"unknown git revision {rev!r}", hint="e.g. --base origin/main (fetch it first)")
    return repo


def _at(repo: Path, rev: str, path: Path) -> bytes | None:
    """The bytes of ``path`` committed at ``rev``, None when it is not there."""
    rel = Path(os.path.relpath(path, repo)).as_posix()
    return git.show_file(repo, rev, rel) if git.is_tracked(repo, rel, rev) else None


def _toml(data: bytes | None, label: str) -> dict[str, Any]:
    if data is None:
        return {}
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the configuration at the trust base is not valid TOML: {exc}", Location(label),
                          hint="the base branch itself must hold a valid nbgov.toml") from None


def _config_at(config: Config, repo: Path, rev: str) -> tuple[Config, Path]:
    """The configuration committed at ``rev`` and the file it comes from (nbgov.toml, else a
    pyproject.toml with ``[tool.nbgov]``; none: defaults)."""
    source = config.root / CONFIG_FILE
    data = _at(repo, rev, source)
    raw = _toml(data, f"{rev}:{CONFIG_FILE}")
    if data is None:
        pyproject = _toml(_at(repo, rev, config.root / "pyproject.toml"), f"{rev}:pyproject.toml")
        if "nbgov" in pyproject.get("tool", {}):
            source, raw = config.root / "pyproject.toml", pyproject["tool"]["nbgov"]
    pipeline = raw.get("pipeline", DEFAULT_PIPELINE)
    at_base = dataclasses.replace(config, raw=raw, source=Path(f"{rev}:{source.name}"),
                                  pipeline=pipeline if isinstance(pipeline, str) else DEFAULT_PIPELINE)
    return at_base, source


def _rel(config: Config, path: Path) -> str:
    return path.resolve().relative_to(config.root.resolve()).as_posix()


def trust_base(config: Config, rev: str) -> TrustBase:
    """Read the trust settings at ``rev`` and find the trust files the working tree changed.

    The working ledger (at the base's ``[review] ledger``) must extend the one committed at
    ``rev``: a branch cannot rewrite reviews already on the base, nor start a fresh ledger;
    and no commit of ``rev..HEAD`` may have removed or changed a record (I13,
    :func:`.history.check_history`).

    Raises:
        LedgerError: ``rev`` is not a revision, the ledger does not extend the base's, or a
            commit of the branch rewrote it.
        ConfigError: not in git, or the base's configuration is bad.
    """
    repo = _repo(config, rev)
    at_base, source = _config_at(config, repo, rev)
    settings = ReviewSettings.from_config(at_base)
    signers = _at(repo, rev, settings.allowed_signers) if settings.allowed_signers else None
    settings = dataclasses.replace(settings, allowed_content=signers or b"", base=rev)
    changed: list[str] = []
    # the configuration file: any table that differs (comments and layout do not count)
    if config.raw != at_base.raw:
        changed.append(_rel(config, config.source if isinstance(config.source, Path) else source))
    # the allowed signers, named at the base and on the branch
    here = ReviewSettings.from_config(config).allowed_signers
    for path in dict.fromkeys(p for p in (settings.allowed_signers, here) if p is not None):
        now = path.read_bytes() if path.is_file() else None
        if now != _at(repo, rev, path):
            changed.append(_rel(config, path))
    committed = _at(repo, rev, settings.ledger)
    older = []
    if committed is not None:
        label = f"the ledger committed at {rev}"
        older = parse_ledger(committed.decode("utf-8", errors="replace"), f"{rev}:{_rel(config, settings.ledger)}")
        check_prefix(older, store.read_records(settings.ledger), settings.ledger, label)
    # and no commit on the way removed a record the ends do not show (I13)
    history.check_history(repo, settings, rev)
    return TrustBase(rev, at_base, settings, tuple(dict.fromkeys(changed)), len(older))
