"""The parity harness: build one small Ploomber project twice, with plain ``ploomber build`` and
with ``nbgov build``, on two copies in fresh git repositories, and compare what each wrote.

Each project under ``projects/`` is a real Ploomber project (its pipeline declares no nbgov
hook) plus a ``parity.yaml`` saying what Ploomber does with it:

    pattern: one line for the parity table
    ploomber_args: [--entry-point, pipeline.train.yaml]   # extra `ploomber build` arguments
    nbgov_args: [-e, pipeline.serve.yaml]                 # extra `nbgov build` arguments
    exit: 0                    # ploomber build's exit code (default 0)
    report: true               # false when Ploomber prints no build report (early stop)
    tasks:                     # every task Ploomber runs on the first build
      NAME:
        params: {n: 5}         # expected MLflow params (MLflow strings of these values)
        secrets: {api_token: value}   # params that must be redacted, with the value to hide
        metrics: {score: 1.9}  # numbers the task glues
    second_build_ran: []       # tasks Ploomber itself runs again on an unchanged second build
    deterministic: [path]      # products compared byte for byte
    tables:                    # data compared row by row: {sqlite file: [tables]} or
      products/data.db: [t]    # {file.parquet: []}

The checks return ``Check(ok, detail)`` so the tests and the table generator (``python -m
tests.parity.table``) share them.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECTS = Path(__file__).resolve().parent / "projects"
TIMEOUT_S = 600
#: Files nbgov may add on top of what Ploomber writes: its tracking store, its own folder and
#: lineage records. Anything else one side writes and the other does not is a difference.
NBGOV_OWN = ("mlflow.db", "mlflow.db-*", "mlruns/*", ".nbgov/*", "*.lineage.json", "*.executed.ipynb")
REDACTED = "***redacted***"


def project_names() -> list[str]:
    """Every project folder that holds a parity.yaml, sorted."""
    return sorted(p.parent.name for p in PROJECTS.glob("*/parity.yaml"))


@dataclass
class Expectation:
    """A project's parity.yaml."""

    name: str
    pattern: str
    tasks: dict[str, dict[str, Any]]
    ploomber_args: list[str] = field(default_factory=list)
    nbgov_args: list[str] = field(default_factory=list)
    exit: int = 0
    report: bool = True
    second_build_ran: list[str] = field(default_factory=list)
    deterministic: list[str] = field(default_factory=list)
    tables: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, name: str) -> Expectation:
        data = yaml.safe_load((PROJECTS / name / "parity.yaml").read_text())
        data["tasks"] = {k: v or {} for k, v in data["tasks"].items()}
        return cls(name=name, **data)


def mlflow_str(value: Any) -> str:
    """A param value as nbgov logs it to MLflow (strings as they are, the rest as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


# -- running the two tools ---------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PLOOMBER_ENV_FILENAME")}
    env.update(PLOOMBER_STATS_ENABLED="false", PLOOMBER_VERSION_CHECK_DISABLED="true")
    return env


def copy_project(name: str, dest: Path) -> Path:
    """The project's files (not parity.yaml) in a fresh git repository at ``dest``, committed."""
    shutil.copytree(PROJECTS / name, dest, ignore=shutil.ignore_patterns("parity.yaml", "__pycache__"))
    git = ["git", "-C", str(dest)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    for key, value in (("user.name", "Parity Bot"), ("user.email", "parity@example.com"),
                       ("commit.gpgsign", "false")):
        subprocess.run([*git, "config", key, value], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", f"parity project {name}"], check=True)
    return dest


def files(root: Path) -> set[str]:
    """Every file under ``root`` (outside .git), as POSIX paths relative to it."""
    out = set()
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts[0] != ".git" and path.is_file():
            out.add(rel.as_posix())
    return out


def is_nbgov_own(rel: str) -> bool:
    """Whether ``rel`` is one of nbgov's own files (store, journal, lineage records)."""
    return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(Path(rel).name, pat) for pat in NBGOV_OWN)


@dataclass
class Run:
    """One CLI invocation."""

    rc: int
    stdout: str
    stderr: str
    seconds: float

    def first_error(self) -> str:
        """The most telling line of the output (for the report)."""
        lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln.strip()]
        for ln in lines:
            if ln.lower().startswith(("error", "usage")) or "Error" in ln.split(":")[0]:
                return ln[:300]
        return (lines[-1] if lines else "")[:300]


def _run(cmd: list[str], cwd: Path) -> Run:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env(), timeout=TIMEOUT_S)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def ploomber_cmd(*args: str) -> list[str]:
    """``ploomber`` from the interpreter running the tests."""
    return [str(Path(sys.executable).parent / "ploomber"), *args]


def nbgov_cmd(*args: str) -> list[str]:
    """``nbgov`` run the way tests/build's run_cli runs it."""
    return [sys.executable, "-m", "nbgov", *args]


def parse_report(stdout: str) -> dict[str, bool] | None:
    """Ploomber's build report (``name  Ran?  Elapsed (s)  Percentage``) as {task: ran}; None
    when no report was printed."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:2] == ["name", "Ran?"]:
            out = {}
            for row in lines[i + 2:]:
                cols = row.split()
                if len(cols) < 2 or cols[1] not in ("True", "False"):
                    break
                out[cols[0]] = cols[1] == "True"
            return out
    return None


@dataclass
class Pair:
    """Both sides of one project, built twice each."""

    expect: Expectation
    ploomber_root: Path
    nbgov_root: Path
    ploomber: Run
    ploomber_again: Run
    nbgov: Run
    nbgov_again: Run
    ploomber_files: set[str]
    nbgov_files: set[str]
    before: set[str]
    #: lineage records as the first nbgov build left them (a task Ploomber runs again on the
    #: second build rewrites its record)
    nbgov_records: dict[str, dict] = field(default_factory=dict)
    #: ``nbgov check`` on the nbgov copy after both builds (products, sidecars and partial
    #: outputs are there: none of them may be linted)
    check: Run | None = None
    #: ``nbgov status --json`` on the nbgov copy after both builds
    status: Run | None = None

    @property
    def nbgov_summary(self) -> dict | None:
        return _json(self.nbgov.stdout)

    @property
    def nbgov_again_summary(self) -> dict | None:
        return _json(self.nbgov_again.stdout)


def _json(text: str) -> dict | None:
    try:
        return json.loads(text)
    except ValueError:
        start = text.find("{")
        try:
            return json.loads(text[start:]) if start >= 0 else None
        except ValueError:
            return None


def build_pair(name: str, workdir: Path) -> Pair:
    """Copy ``name`` twice under ``workdir``; build each side twice; keep what both wrote."""
    expect = Expectation.load(name)
    p_root = copy_project(name, workdir / "ploomber")
    n_root = copy_project(name, workdir / "nbgov")
    before = files(p_root)

    def ploomber_side() -> tuple[Run, set[str], Run]:
        first = _run(ploomber_cmd("build", *expect.ploomber_args), p_root)
        written = files(p_root)
        return first, written, _run(ploomber_cmd("build", *expect.ploomber_args), p_root)

    # the two copies share nothing, so the sides run side by side (half the wall time); the
    # no-op nbgov build runs alone afterwards so that its time is not inflated
    with ThreadPoolExecutor(max_workers=2) as pool:
        p_future = pool.submit(ploomber_side)
        nbgov = _run(nbgov_cmd("build", "--json", *expect.nbgov_args), n_root)
        n_files = files(n_root)
        records = {rel: _json((n_root / rel).read_text()) for rel in n_files
                   if rel.endswith(".lineage.json") and not rel.startswith("mlruns/")}
        ploomber, p_files, ploomber_again = p_future.result()
    nbgov_again = _run(nbgov_cmd("build", "--json", *expect.nbgov_args), n_root)
    # both only read the project: side by side
    with ThreadPoolExecutor(max_workers=2) as pool:
        status_future = pool.submit(_run, nbgov_cmd("status", "--json", *_spec_args(expect.nbgov_args)), n_root)
        check = _run(nbgov_cmd("check"), n_root)
        status = status_future.result()
    return Pair(expect, p_root, n_root, ploomber, ploomber_again, nbgov, nbgov_again, p_files, n_files, before,
                records, check, status)


def _spec_args(args: list[str]) -> list[str]:
    """The spec choice among ``nbgov build`` arguments (``-e SPEC``), which ``status`` takes too."""
    for i, arg in enumerate(args):
        if arg in ("-e", "--entry-point") and i + 1 < len(args):
            return [arg, args[i + 1]]
    return []


# -- checks ------------------------------------------------------------------------------------


@dataclass
class Check:
    """One comparison: ok, and what was wrong."""

    ok: bool
    detail: str = ""


def check_ploomber(pair: Pair) -> Check:
    """Plain ``ploomber build`` does what parity.yaml says: exit code, tasks run on the first
    build, tasks run again on the second, products present."""
    e, first, again = pair.expect, pair.ploomber, pair.ploomber_again
    problems = []
    if first.rc != e.exit:
        problems.append(f"exit {first.rc}, expected {e.exit}: {first.first_error()}")
    report = parse_report(first.stdout)
    if e.report:
        ran = sorted(t for t, r in (report or {}).items() if r)
        if ran != sorted(e.tasks):
            problems.append(f"ran {ran}, expected {sorted(e.tasks)}")
        again_report = parse_report(again.stdout) or {}
        ran_again = sorted(t for t, r in again_report.items() if r)
        if ran_again != sorted(e.second_build_ran):
            problems.append(f"second build ran {ran_again}, expected {sorted(e.second_build_ran)}")
    elif report is not None:
        problems.append("printed a build report, parity.yaml says report: false")
    if again.rc != e.exit:
        problems.append(f"second build exit {again.rc}, expected {e.exit}")
    missing = [p for p in [*e.deterministic, *e.tables] if not (pair.ploomber_root / p).exists()]
    if missing:
        problems.append(f"products missing: {missing}")
    return Check(not problems, "; ".join(problems))


def check_exit(pair: Pair) -> Check:
    """``nbgov build`` ends like ``ploomber build``: both succeed or both fail."""
    p, n = pair.ploomber.rc, pair.nbgov.rc
    if (p == 0) == (n == 0):
        return Check(True, f"ploomber {p}, nbgov {n}")
    summary = pair.nbgov_summary
    failed = [f"{t['task']}: {t.get('error')}" for t in (summary or {}).get("tasks", [])
              if t.get("outcome") == "failed"]
    why = "; ".join(failed) if failed else pair.nbgov.first_error()
    return Check(False, f"ploomber exit {p}, nbgov exit {n}: {why[:600]}")


def _new_products(pair: Pair, after: set[str]) -> set[str]:
    return {f for f in after - pair.before if not is_nbgov_own(f)}


def check_products(pair: Pair) -> Check:
    """Both sides wrote the same set of files (nbgov's own store and records aside), the
    deterministic ones byte for byte, and the same rows in the listed tables."""
    p_new, n_new = _new_products(pair, pair.ploomber_files), _new_products(pair, pair.nbgov_files)
    problems = []
    if p_new != n_new:
        only_p, only_n = sorted(p_new - n_new), sorted(n_new - p_new)
        problems.append(f"only ploomber wrote {only_p}" if only_p else "")
        problems.append(f"only nbgov wrote {only_n}" if only_n else "")
    for rel in pair.expect.deterministic:
        a, b = pair.ploomber_root / rel, pair.nbgov_root / rel
        if a.is_file() and b.is_file() and a.read_bytes() != b.read_bytes():
            problems.append(f"{rel} differs")
    for rel, tables in pair.expect.tables.items():
        a, b = pair.ploomber_root / rel, pair.nbgov_root / rel
        if a.exists() and b.exists() and table_rows(a, tables) != table_rows(b, tables):
            problems.append(f"{rel} rows differ")
    problems = [p for p in problems if p]
    return Check(not problems, "; ".join(problems))


def table_rows(path: Path, tables: list[str]) -> dict[str, list]:
    """Rows of ``tables`` in a SQLite file, or of a parquet file, in a stable order."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return {"": sorted(map(repr, pq.read_table(path).to_pylist()))}
    with sqlite3.connect(path) as db:
        return {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}


def task_runs(root: Path, experiment: str) -> list:
    """Every MLflow run nbgov recorded in the project's embedded store (oldest first)."""
    from mlflow.tracking import MlflowClient

    if not (root / "mlflow.db").exists():
        return []
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return list(reversed(client.search_runs([exp.experiment_id], max_results=1000)))


def experiment_of(root: Path) -> str:
    """The experiment named in the project's nbgov.toml."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    return tomllib.loads((root / "nbgov.toml").read_text())["experiment"]


def first_build_runs(pair: Pair) -> dict[str, list]:
    """Task runs of the first nbgov build, by task name."""
    runs = task_runs(pair.nbgov_root, experiment_of(pair.nbgov_root))
    builds = [r for r in runs if r.data.tags.get("nbgov.kind") == "build"]
    first = builds[0].info.run_id if builds else None
    out: dict[str, list] = {}
    for r in runs:
        if r.data.tags.get("nbgov.kind") == "task" and r.data.tags.get("mlflow.parentRunId") == first:
            out.setdefault(r.data.tags.get("nbgov.task", "?"), []).append(r)
    return out


def check_runs(pair: Pair) -> Check:
    """One FINISHED child run per task Ploomber ran, none for the others, none FAILED; with
    the task's params (secrets redacted, their values nowhere) and glued metrics."""
    runs = first_build_runs(pair)
    problems = []
    if set(runs) != set(pair.expect.tasks):
        problems.append(f"runs for {sorted(runs)}, expected {sorted(pair.expect.tasks)}")
    for task, spec in pair.expect.tasks.items():
        mine = runs.get(task, [])
        if len(mine) != 1:
            continue
        run = mine[0]
        if run.info.status != "FINISHED":
            problems.append(f"{task}: run {run.info.status}")
        for key, value in (spec.get("params") or {}).items():
            got = run.data.params.get(key)
            if got != mlflow_str(value):
                problems.append(f"{task}: param {key}={got!r}, expected {mlflow_str(value)!r}")
        logged = json.dumps(run.data.params) + json.dumps(run.data.tags)
        for key, secret in (spec.get("secrets") or {}).items():
            if run.data.params.get(key) != REDACTED:
                problems.append(f"{task}: param {key} not redacted ({run.data.params.get(key)!r})")
            if str(secret) in logged:
                problems.append(f"{task}: secret value of {key} sent to MLflow")
        for key, value in (spec.get("metrics") or {}).items():
            got = run.data.metrics.get(key)
            if got is None or abs(got - float(value)) > 1e-9:
                problems.append(f"{task}: metric {key}={got}, expected {value}")
    failed = [r.data.tags.get("nbgov.task", r.info.run_id) for rs in runs.values() for r in rs
              if r.info.status == "FAILED"]
    if failed and not any("FAILED" in p for p in problems):
        problems.append(f"FAILED runs: {failed}")
    return Check(not problems, "; ".join(problems))


def check_lineage(pair: Pair) -> Check:
    """Each tracked task has its own lineage record: the run's ``nbgov/lineage.json`` artifact,
    and one ``*.lineage.json`` file in the project naming that task and that run."""
    from mlflow.tracking import MlflowClient

    runs = first_build_runs(pair)
    problems = []
    local: dict[str, list[dict]] = {}
    for rel, rec in pair.nbgov_records.items():
        if rec is None:
            problems.append(f"{rel}: not JSON")
            continue
        local.setdefault(rec.get("task", "?"), []).append({"path": rel, **rec})
    client = MlflowClient(tracking_uri=f"sqlite:///{pair.nbgov_root / 'mlflow.db'}")
    for task in pair.expect.tasks:
        if len(runs.get(task, [])) != 1:
            problems.append(f"{task}: no single run to hold a record")
            continue
        run_id = runs[task][0].info.run_id
        try:
            path = client.download_artifacts(run_id, "nbgov/lineage.json")
            rec = json.loads(Path(path).read_text())
            if rec.get("task") != task or rec.get("run_id") != run_id:
                problems.append(f"{task}: run's lineage.json names task {rec.get('task')!r} run {rec.get('run_id')}")
        except Exception as exc:  # noqa: BLE001 - any failure to fetch is "no record"
            problems.append(f"{task}: no nbgov/lineage.json artifact ({type(exc).__name__})")
        recs = local.get(task, [])
        if len(recs) != 1:
            problems.append(f"{task}: {len(recs)} local lineage records")
        elif recs[0].get("run_id") != run_id:
            problems.append(f"{task}: local record {recs[0]['path']} names run {recs[0].get('run_id')}")
    return Check(not problems, "; ".join(problems))


def check_noop(pair: Pair) -> Check:
    """The second ``nbgov build`` runs only what Ploomber itself runs again (usually nothing),
    skips the rest and exits 0."""
    again = pair.nbgov_again
    summary = pair.nbgov_again_summary
    if again.rc != 0 or summary is None:
        return Check(False, f"exit {again.rc}: {again.first_error()}")
    outcomes = {t["task"]: t["outcome"] for t in summary.get("tasks", [])}
    # "stopped" (DAGBuildEarlyStop) ran; "not-run" (downstream of a stop or failure) did not
    ran = sorted(t for t, o in outcomes.items() if o not in ("skipped", "not-run"))
    if ran != sorted(pair.expect.second_build_ran):
        return Check(False, f"second build outcomes {outcomes}, expected only "
                            f"{sorted(pair.expect.second_build_ran)} to run")
    return Check(True, f"{again.seconds:.2f} s")


def check_lint(pair: Pair) -> Check:
    """``nbgov check`` is clean on the built project: it lints the sources the project's
    author wrote, never what the builds wrote, and no rule fires on a task kind it is not
    about (a valid spec of any form Ploomber accepts is no NBG601/602/603)."""
    run = pair.check
    if run is None:
        return Check(False, "nbgov check did not run")
    if run.rc != 0:
        lines = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.strip()]
        return Check(False, f"exit {run.rc}: " + " | ".join(lines[:6])[:600])
    return Check(True, run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "")


def check_status(pair: Pair) -> Check:
    """``nbgov status`` agrees with the no-op build: every task the second build skipped is
    ``up-to-date`` (a task whose source is data, an upload, included)."""
    run = pair.status
    if run is None or run.rc != 0:
        return Check(False, f"exit {run.rc if run else '-'}: {run.first_error() if run else 'did not run'}")
    status = _json(run.stdout) or {}
    states = {t["name"]: t["state"] for t in status.get("tasks", [])}
    skipped = [t["task"] for t in (pair.nbgov_again_summary or {}).get("tasks", []) if t["outcome"] == "skipped"]
    wrong = {t: states.get(t) for t in skipped if states.get(t) != "up-to-date"}
    if wrong:
        return Check(False, f"skipped by the no-op build but status says {wrong}")
    return Check(True, f"{len(skipped)} up-to-date")


CHECKS = {
    "ploomber build": check_ploomber,
    "nbgov build": check_exit,
    "same products": check_products,
    "runs tracked": check_runs,
    "lineage": check_lineage,
    "no-op rebuild": check_noop,
    "status": check_status,
    "check clean": check_lint,
}
