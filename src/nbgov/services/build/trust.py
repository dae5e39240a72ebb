"""What a governed build does not take on trust when it calls a task up to date (docs/security.md,
J10).

A task is fresh when its lineage record names this notebook version, these params and the
digests its products and inputs hold now (:mod:`nbgov.core.freshness`). Digests authenticate
nothing: a commit can add a product (``git add -f products/model.pkl``) with a record beside it
naming the approved version, the same params and the new file's digest, and the reviewed task
that should have made it would be skipped while the next one reads the file. So a build that
requires approval calls a task fresh only when its record and its products are this machine's
(git tracks none of them, nor the cached plan) and the run its record names is in the tracking
store; otherwise the task runs (and the gate asks for its approval as for any task that runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbgov.adapters.git import tracked
from nbgov.core.config import Config
from nbgov.core.lineage import read_record


def governed(require_approved: bool | None, env_settings: dict[str, Any]) -> bool:
    """Whether the build requires approval (``--require-approved``, else the environment's
    ``require_approved``)."""
    if require_approved is not None:
        return require_approved
    return bool(env_settings.get("require_approved", False))


def _inside(config: Config, path: Path) -> str | None:
    """``path`` relative to the project (posix), None when it is outside (git cannot track it)."""
    top = config.root.resolve()
    real = Path(path).resolve()
    return real.relative_to(top).as_posix() if real.is_relative_to(top) and real != top else None


def committed(config: Config, paths: list[Path]) -> set[str]:
    """Which of ``paths`` (or files under them) git tracks, relative to the project; one call."""
    rels = sorted({r for r in (_inside(config, p) for p in paths) if r})
    return (tracked(config.root, *rels) or set()) if rels else set()


def distrusted(config: Config, infos: list, skip_kinds: tuple[str, ...] = ()) -> dict[str, str]:
    """The tasks a governed build must not skip as fresh, with why (one line each): a record or
    product that git tracks (it came with the commit, not from a run here), a record naming no
    run, or a run the tracking store does not have (or cannot confirm: it does not answer)."""
    tasks = [t for t in infos if t.record is not None and t.kind not in skip_kinds]
    if not tasks:
        return {}
    mine = {t.name: [t.record, *t.products.values()] for t in tasks}
    in_git = committed(config, [p for paths in mine.values() for p in paths])
    out: dict[str, str] = {}
    run_ids: dict[str, str] = {}
    for task in tasks:
        for path in mine[task.name]:
            rel = _inside(config, path)
            if rel and (rel in in_git or any(f.startswith(rel + "/") for f in in_git)):
                out[task.name] = (f"git tracks {rel}: a product or lineage record that came with the commit "
                                  "was not made by a run here")
                break
        if task.name in out:
            continue
        record = read_record(task.record) if Path(task.record).exists() else None
        if record is None:
            continue  # no record: the task runs anyway (core.freshness)
        if not record.run_id:
            out[task.name] = "its lineage record names no run of the tracking store"
        else:
            run_ids[task.name] = record.run_id
    gone = _missing(config.resolved_tracking_uri(), list(run_ids.values()))
    for name, run_id in run_ids.items():
        if gone is None:
            out[name] = "the tracking store does not answer: the run its lineage record names cannot be confirmed"
        elif run_id in gone:
            out[name] = f"the run its lineage record names ({run_id}) is not in the tracking store"
    return out


def _missing(uri: str, run_ids: list[str]) -> list[str] | None:
    """:func:`~nbgov.adapters.mlflow.stores.missing_runs` for any number of runs (it checks 50
    per call over HTTP)."""
    from nbgov.adapters.mlflow.stores import missing_runs  # (http.client: off the no-op path)

    gone: list[str] = []
    for start in range(0, len(run_ids), 50):
        part = missing_runs(uri, run_ids[start:start + 50])
        if part is None:
            return None
        gone += part
    return gone
