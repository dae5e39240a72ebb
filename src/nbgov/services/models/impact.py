"""What a change did to the results: for each task whose review target a pull request changed,
and every task downstream of it, the metrics of its last recorded run at the base commit
against its last run at the head commit, with the difference, and the promotion thresholds
(``[promote]``) a head value would now fail; the models whose lineage the change reaches.

Runs are found in the tracking store by their tags: every task run carries ``nbgov.task``,
the git commit the build ran at (``nbgov.git_commit``, see :mod:`nbgov.services.recording`)
and the version of the task's source it ran (``nbgov.notebook_version``): a run counts for a
side only when that version is the source's version at the side's commit.
A side without a run is said plainly, with the command that makes one.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from nbgov.adapters import git
from nbgov.adapters.mlflow.tracker import Tracker
from nbgov.adapters.notebooks import task_source_version
from nbgov.core.config import Config
from nbgov.core.errors import NbgovError
from nbgov.core.thresholds import Rule
from nbgov.services.models.promote import PromoteSettings
from nbgov.services.models.store_trust import untrusted_store
from nbgov.services.pipeline.plan import plan_tasks, spec_tasks

REGISTERED_MODEL = "registered_model"
#: How many commits back a task's last run is looked for (on the base's line; on the branch).
_LOOKBACK = 20
#: Targets every task depends on: a change to them reaches every task.
_WHOLE_PIPELINE_KINDS = ("spec file", "env file")


def _tasks(config: Config) -> list[Any]:
    planned = plan_tasks(config, stale_ok=True)
    return planned[0] if planned else spec_tasks(config)


def _rel(config: Config, path: str | Path | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return None


def affected_tasks(config: Config, report: dict[str, Any]) -> dict[str, str]:
    """Task name -> why it is affected (its source changed, the spec changed, or downstream
    of an affected task), in pipeline order."""
    tasks = _tasks(config)
    changed = {t["path"] for t in report["targets"]} | {t["old_path"] for t in report["targets"] if t["old_path"]}
    whole = [t["path"] for t in report["targets"] if t["kind"] in _WHOLE_PIPELINE_KINDS and not t["trust"]]
    why: dict[str, str] = {}
    for task in tasks:
        source = _rel(config, task.source_file or task.source)
        if source in changed:
            why[task.name] = f"{source} changed"
        elif whole:
            why[task.name] = f"{whole[0]} changed"
    grown = True
    while grown:  # downstream, transitively
        grown = False
        for task in tasks:
            if task.name in why:
                continue
            ups = [u for u in task.upstream if u in why]
            if ups:
                why[task.name] = f"downstream of {ups[0]}"
                grown = True
    order = [t.name for t in tasks]
    return {name: why[name] for name in order if name in why}


def _last_runs(tracker: Tracker, commits: list[str], versions: dict[str, str]) -> dict[str, Any]:
    """Task name -> its newest task run recorded at the first of ``commits`` (newest first)
    that has one *of the task's source version at that side* (``versions``; the run's
    ``nbgov.notebook_version`` tag): a build skips a task whose inputs did not change, so a
    task's result at a commit is its run at that commit or at an earlier one of the same line,
    but only while its source is the same (a run of an older version, or one merged in from
    another branch with other code, is not this side's result)."""
    out: dict[str, Any] = {}
    for commit in commits:
        quoted = commit.replace("'", "")
        runs = tracker.search_runs(f"tags.`nbgov.kind` = 'task' and tags.`nbgov.git_commit` = '{quoted}'",
                                   max_results=1000)
        for run in runs:  # newest first
            task = run.data.tags.get("nbgov.task", "")
            if task in versions and run.data.tags.get("nbgov.notebook_version", "") == versions[task]:
                out.setdefault(task, run)
    return out


def _version_at(repo: Path | None, config: Config, rev: str | None, source: str | None) -> str:
    """The version of a task's source (project-relative) at commit ``rev`` (None: the working
    tree), as a build records it (``nbgov.notebook_version``); "" when there is none."""
    if source is None:
        return ""
    if rev is None or repo is None:
        return task_source_version(config.root / source) or ""
    rel = (config.root.resolve() / source).relative_to(repo.resolve()).as_posix()
    try:
        data = git.show_file(repo, rev, rel)
    except NbgovError:
        return ""
    with tempfile.TemporaryDirectory(prefix="nbgov-version-") as tmp:
        copy = Path(tmp) / Path(source).name  # the same name: a .py file's kind is read from it
        copy.write_bytes(data)
        return task_source_version(copy) or ""


def _lines(config: Config, report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the base commit and its ancestors, the head commit and the branch's commits before it),
    newest first, a bounded number of each."""
    base, head = report["base"]["commit"], report["head"]["commit"]
    repo = git.repo_root(config.root)
    if repo is None:
        return [base], [head] if head else []
    branch = git.rev_list(repo, head, exclude=base, limit=_LOOKBACK) if head else []
    return git.rev_list(repo, base, limit=_LOOKBACK) or [base], branch


def _built_at(tracker: Tracker, commit: str | None) -> bool:
    """Whether a build (its parent run) was recorded at git ``commit``."""
    if not commit:
        return False
    quoted = commit.replace("'", "")
    return bool(tracker.search_runs(f"tags.`nbgov.kind` = 'build' and tags.`nbgov.git_commit` = '{quoted}'",
                                    max_results=1))


def _old_names(config: Config, report: dict[str, Any]) -> dict[str, str]:
    """Task name at the head -> its name at the base, for tasks whose notebook was moved (a
    task is named after its source file unless the spec names it)."""
    moved = {t["path"]: t["old_path"] for t in report["targets"] if t["old_path"]}
    out = {}
    for task in _tasks(config):
        source = _rel(config, task.source_file or task.source)
        if source in moved and task.name == Path(source).stem:
            out[task.name] = Path(moved[source]).stem
    return out


def _rules(config: Config) -> list[Rule]:
    settings = PromoteSettings.from_config(config)
    rules = list(settings.thresholds)
    for per in settings.per_alias.values():
        rules += [r for r in per if str(r) not in {str(x) for x in rules}]
    return rules


def _fails(rules: list[Rule], task: str, name: str, value: float | None) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [r.text for r in rules if r.metric in (name, f"{task}.{name}") and not r.holds(value)]


def _run_view(run: Any | None) -> dict[str, Any] | None:
    if run is None:
        return None
    tags = run.data.tags
    return {"run_id": run.info.run_id, "status": run.info.status, "outcome": tags.get("nbgov.outcome"),
            "commit": tags.get("nbgov.git_commit"),
            "dirty": tags.get("nbgov.git_dirty") == "True", "build_id": tags.get("nbgov.build_id")}


def _model(config: Config, task: Any) -> dict[str, Any] | None:
    path = (task.products or {}).get(REGISTERED_MODEL)
    if path is None:
        return None
    try:
        data = json.loads(Path(config.root / path).read_text(encoding="utf-8"))
        return {"name": str(data["name"]), "version": str(data.get("version") or ""), "via": task.name}
    except (OSError, ValueError, KeyError, TypeError):
        return {"name": f"the model {task.name} registers", "version": "", "via": task.name}


def results(config: Config, report: dict[str, Any]) -> dict[str, Any]:
    """The ``results`` section of a PR report (see docs/reference/pr-report.md).

    Never raises for a missing store or run: the section then says what is missing. When the
    store cannot be trusted (:func:`.store_trust.untrusted_store`) it shows no result, says
    why, and adds the file the branch changed to ``report["trust_changes"]``.
    """
    why = affected_tasks(config, report)
    notes: list[str] = []
    if not why:
        return {"tasks": [], "models": [], "notes": ["no pipeline task is affected by this change"]}
    distrust = untrusted_store(config, report)
    if distrust is not None:
        # a store the branch wrote (or chose) could say anything: show no number from it
        reason, path = distrust
        if path not in report["trust_changes"]:
            report["trust_changes"].append(path)  # named with the trust settings
        return {"tasks": [], "models": [], "untrusted": reason,
                "notes": [f"the results cannot be trusted: {reason}. Set MLFLOW_TRACKING_URI to a store "
                          "the branch cannot write (docs/how-to/pr-review.md)"]}
    tracker = Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())
    try:
        base_line, branch = _lines(config, report)
        repo = git.repo_root(config.root)
        tasks_now = {t.name: t for t in _tasks(config)}
        renamed = _old_names(config, report)
        moved_from = {t["path"]: t["old_path"] for t in report["targets"] if t["old_path"]}
        head_versions, base_versions = {}, {}
        for name in why:
            task = tasks_now.get(name)
            source = _rel(config, (task.source_file or task.source) if task is not None else None)
            head_versions[name] = _version_at(repo, config, report["head"]["commit"], source)
            base_versions[renamed.get(name, name)] = _version_at(repo, config, report["base"]["commit"],
                                                                 moved_from.get(source, source) if source else None)
        base_runs = _last_runs(tracker, base_line, base_versions)
        head_runs = _last_runs(tracker, branch, head_versions)
        built_at_head = _built_at(tracker, report["head"]["commit"])
        rules = _rules(config)
    except NbgovError as exc:
        return {"tasks": [{"task": t, "why": w, "base_run": None, "head_run": None, "metrics": [],
                           "note": "tracking store not read"} for t, w in why.items()],
                "models": [], "notes": [f"the tracking store could not be read: {exc.message}"]}
    tasks_by_name = tasks_now
    out, models = [], []
    for name, reason in why.items():
        base = base_runs.get(renamed.get(name, name))
        head = head_runs.get(name)
        metrics = []
        base_m = dict(base.data.metrics) if base else {}
        head_m = dict(head.data.metrics) if head else {}
        for metric in sorted(set(base_m) | set(head_m)):
            b, h = base_m.get(metric), head_m.get(metric)
            metrics.append({"name": metric, "base": b, "head": h,
                            "delta": (h - b) if b is not None and h is not None else None,
                            "fails": _fails(rules, name, metric, h),
                            "failed_at_base": bool(_fails(rules, name, metric, b))})
        missing = []
        if base is None:
            missing.append("no run at base for this version: run `nbgov build` on the base commit")
        if head is None and built_at_head:
            # a build at the head skipped it (its inputs did not change): it did not re-run
            missing.append("not re-run on the branch: its inputs did not change")
        elif head is None:
            missing.append("no run at head for this version: run `nbgov build` on the branch")
        elif report["head"]["commit"] and head.data.tags.get("nbgov.git_dirty") == "True":
            missing.append("the head run was made with uncommitted changes")
        out.append({"task": name, "why": reason, "base_run": _run_view(base), "head_run": _run_view(head),
                    "metrics": metrics, "note": "; ".join(missing) or None})
        task = tasks_by_name.get(name)
        model = _model(config, task) if task is not None else None
        if model is not None:
            models.append(model)
    if rules:
        notes.append("thresholds checked: " + ", ".join(r.text for r in rules) + " ([promote] in nbgov.toml)")
    return {"tasks": out, "models": models, "notes": notes}
