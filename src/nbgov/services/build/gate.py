"""Everything a build decides before running a task: the selection's upstream, the content
check (which tasks really changed), the tasks that would run, and the approval gate on them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nbgov.adapters.engines.checkout import drop_bytecode_beside
from nbgov.adapters.git import committed_links
from nbgov.adapters.ploomber import Pipeline, TaskInfo
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import GateError, Location, PipelineError
from nbgov.core.freshness import decide
from nbgov.core.lineage import read_record
from nbgov.core.params import parse_assignment
from nbgov.core.redact import redact_params
from nbgov.services.build.fastpath import NEVER_RUN_KINDS
from nbgov.services.build.load import select_tasks
from nbgov.services.build.options import BuildOptions
from nbgov.services.build.trust import distrusted, governed
from nbgov.services.pipeline.plan import pipeline_secrets, source_version, write_plan
from nbgov.services.recording.confined import outside_link
from nbgov.services.review.nbconvert_files import NbconvertInputs, exporter_name, nbconvert_inputs
from nbgov.services.review.state import require_approved
from nbgov.services.review.targets import render_targets, review_targets


def require_built_upstream(config: Config, infos: list[TaskInfo], selection: list[str]) -> None:
    """Refuse a selection whose tasks read an upstream that is not selected and not built
    (its products missing): the notebook would only fail on the missing file."""
    tasks = {t.name: t for t in infos}
    missing: dict[str, list[str]] = {}
    for name in selection:
        for up in tasks[name].upstream:
            if up in selection:
                continue
            absent = [p for p in tasks[up].products.values() if not p.exists()]
            if absent:
                missing.setdefault(up, []).extend(_rel(config, p) for p in absent)
    if missing:
        ups = sorted(missing)
        what = "; ".join(f"{u} ({', '.join(missing[u])} missing)" for u in ups)
        raise PipelineError(
            f"upstream task(s) not built: {what}",
            Location(config.pipeline_path),
            hint=f"build them first (nbgov build {' '.join(ups)}), or run the whole pipeline: nbgov build")


#: env var a cluster driver sets for a task it runs as ``nbgov build TASK`` on a worker (the
#: cold fallback): what its gate approved, checked here as a warm worker checks it (R10)
EXPECT_VAR = "NBGOV_CLUSTER_EXPECT"


def driver_expectation(pipeline: Pipeline, infos: list[TaskInfo]) -> str:
    """What a worker's ``nbgov build TASK`` must find (JSON for :data:`EXPECT_VAR`): the spec and
    env file's digest, each task's source file digest and its notebook as loaded here."""
    return json.dumps({"spec": pipeline.spec_digest,
                       "sources": {t.name: file_digest(t.source_file) for t in infos
                                   if t.source_file is not None and t.source_file.is_file()},
                       "loaded": {t.name: pipeline.loaded_digest(t.name) for t in infos}})


def check_driver_approved(pipeline: Pipeline, infos: list[TaskInfo], selection: list[str] | None) -> None:
    """In a task a cluster driver runs as a subprocess on a worker (:data:`EXPECT_VAR` set):
    refuse unless this process rendered what the driver's gate approved (spec and env file,
    each selected task's source file and its notebook as Ploomber loaded it)."""
    raw = os.environ.get(EXPECT_VAR)
    if not raw:
        return
    expect = json.loads(raw)
    where = f"refused on this worker ({pipeline.root})"
    if pipeline.spec_digest != expect.get("spec"):
        raise PipelineError(f"{where}: its pipeline spec / env file differ from the ones the build's driver "
                            "rendered; a worker runs only the reviewed content", Location(pipeline.spec_path),
                            hint="give the worker a clean checkout of the build's commit")
    for t in infos:
        if selection is not None and t.name not in selection:
            continue
        actual = file_digest(t.source_file) if t.source_file is not None and t.source_file.is_file() else None
        if actual != expect.get("sources", {}).get(t.name) or \
                pipeline.loaded_digest(t.name) != expect.get("loaded", {}).get(t.name):
            raise PipelineError(f"{where}: task {t.name}'s source differs from the one the build's gate approved; "
                                "a worker runs only the reviewed content", Location(t.source_file or pipeline.root),
                                hint="give the worker a clean checkout of the build's commit")


def _rel(config: Config, path) -> str:
    try:
        return path.resolve().relative_to(config.root).as_posix()
    except ValueError:
        return str(path)


def _required(options: BuildOptions, env_settings: dict[str, Any]) -> bool:
    return governed(options.require_approved, env_settings)


def gate_render(config: Config, options: BuildOptions, env_settings: dict[str, Any]) -> None:
    """The approval gate on what runs while the pipeline loads (:func:`render_targets`: the spec,
    hooks, clients, function tasks' modules...), before it loads: Ploomber imports them and runs
    ``on_render`` hooks while rendering, which comes before :func:`gate` can see the tasks."""
    if not _required(options, env_settings):
        return
    problems: list[str] = []
    targets = render_targets(config, _overrides(options), problems)
    if problems:  # a placeholder in what loading imports that the closure cannot resolve
        # each problem says what to do; only a placeholder's needs this hint (bytecode, archives,
        # template options carry their own remedy)
        hint = ("write the path literally (or with env.yaml values and {{here}}/{{root}}) so that it can be "
                "reviewed: a governed build runs nothing unreviewed") if "resolved statically" in problems[0] else \
            "a governed build runs nothing unreviewed: `nbgov review status` lists what it covers"
        raise GateError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                        Location(config.pipeline_path), hint=hint)
    try:
        require_approved(config, [t.path for t in targets])
    except GateError:
        if options.tasks:
            raise  # (which sources named tasks have is only known once loaded)
        # refused anyway: name all a pipeline build needs approved, not only what loading runs
        require_approved(config, [t.path for t in review_targets(config)])
        raise


def _overrides(options: BuildOptions) -> dict[str, Any]:
    """``--env NAME=VALUE`` as the values the spec is rendered with (as :func:`load_pipeline`)."""
    out = {}
    for text in options.env:
        _, key, value = parse_assignment(text, dotted=False)
        out[key] = value
    return out


def refuse_unreviewable(config: Config, would_run: list[TaskInfo], targets: list[str]) -> None:
    """Refuse a task that would run whose source file is not a review target: outside the
    project (a symlink leaving it, ``../shared.ipynb``), or missed by the static closure.
    Never silently dropped from the gate (R4). A function task's module outside the project
    (an installed package) is the environment's, like the kernel, and not refused."""
    root = config.root.resolve()
    known = set(targets)
    for t in would_run:
        if t.source_file is None:
            continue
        real = t.source_file.resolve()
        inside = real.is_relative_to(root)
        if inside and real.relative_to(root).as_posix() in known:
            continue
        if not inside and t.kind == "function":
            continue
        why = ("is outside the project (a symlink leaving it, or a path such as ../)" if not inside
               else "is not a review target (the static closure cannot see it)")
        raise GateError(f"task {t.name}: its source {real} {why}; a governed build runs only reviewed sources",
                        Location(config.pipeline_path), hint="put the source inside the project as a regular file "
                        "(no symlink leaving it), commit it and have it approved")


def refuse_kernel_options(config: Config, would_run: list[TaskInfo]) -> None:
    """Refuse a task that would run whose ``executor_params`` (as loaded: a ``location:``
    factory's too) hold a key no kernel may get (``resources``, ``extra_arguments``, what
    papermill forwards to nbclient...), or give its kernel a working folder outside the
    project, whose modules cannot be reviewed (R4; :mod:`nbgov.adapters.ploomber.kernel_options`)."""
    root = config.root.resolve()
    for t in would_run:
        for key, why in t.kernel_refused:
            raise GateError(f"task {t.name}: executor_params.{key} refused: {why}; a governed build gives a "
                            "kernel only options it can review", Location(config.pipeline_path),
                            hint=f"remove `{key}` from the task's executor_params (or papermill_params); allowed: "
                            "log_output, progress_bar, timeouts, kernel_name...; the working folder: cwd")
        if t.kernel_folder is not None and not t.kernel_folder.resolve().is_relative_to(root):
            raise GateError(f"task {t.name}: its kernel's working folder {t.kernel_folder} (executor_params.cwd) "
                            "is outside the project: the modules it imports from there cannot be reviewed",
                            Location(config.pipeline_path), hint="give the kernel a working folder inside the "
                            "project (or none: the project root)")


def loaded_nbconvert(config: Config, would_run: list[TaskInfo]) -> NbconvertInputs:
    """What the loaded tasks that would run hand nbconvert (``nbconvert_export_kwargs``, the
    exporter class; a ``location:`` factory's too, which the spec's review cannot read), screened
    as the spec's (:mod:`nbgov.services.review.nbconvert_files`): template files to approve,
    dotted names to follow; an option that cannot be reviewed is refused (R4)."""
    found = NbconvertInputs()
    root, spec_folder = config.root.resolve(), config.pipeline_path.resolve().parent
    for t in would_run:
        for kwargs, exporter in t.converters:
            # as loaded, placeholders are rendered already: values are taken as they are
            got = nbconvert_inputs(kwargs, f"{t.name} (as loaded)", root, spec_folder, lambda value, _what: value)
            for path, why in got.files.items():
                found.files.setdefault(path, why)
            dotted, unfollowed = exporter_name(exporter, f"{t.name} (as loaded)")
            found.dotted += got.dotted + dotted
            found.problems += got.problems + unfollowed
    if found.problems:
        more = f" (and {len(found.problems) - 1} more)" if len(found.problems) > 1 else ""
        raise GateError(found.problems[0] + more, Location(config.pipeline_path),
                        hint="a governed build runs nothing unreviewed: `nbgov review status` lists what it covers")
    return found


def refuse_linked_products(config: Config, would_run: list[TaskInfo]) -> None:
    """Refuse a task that would run whose product lies where a committed symbolic link
    leading outside the project points (``products/plots -> ~/.ssh``), or whose product is
    itself a committed link (``products/x.csv -> ../.env``): the task would write there, and
    those files would be taken for the product (R5). A link the commit does not hold
    (a data disk the runner mounted) is the environment's: not refused here, and withheld from
    the upload all the same (:mod:`nbgov.services.recording.confined`)."""
    root = config.root.resolve()
    tools = (root / ".git", root / ".nbgov")  # git's and nbgov's own folders: `products -> .git`

    def forbidden(real: Path) -> bool:  # would put a product in .git/hooks, or over nbgov's state
        return not real.is_relative_to(root) or any(real == t or real.is_relative_to(t) for t in tools)

    links, committed = {}, set(committed_links(config.root))
    for rel in committed:
        link = config.root / rel
        if link.is_symlink() and (outside_link(link, root) is not None or forbidden(Path(os.path.realpath(link)))):
            links[rel] = Path(os.path.realpath(link))
    for t in would_run:
        for key, product in t.products.items():
            # a product that is a committed link, wherever it leads (`x.csv -> ../.env`): the
            # file it points to would be taken for the product
            rel = os.path.relpath(os.path.abspath(product), config.root)
            if Path(rel).as_posix() in committed and Path(product).is_symlink():
                raise GateError(f"task {t.name}: its product {key!r} is {rel}, a committed symbolic link (to "
                                f"{os.readlink(product)}): the task would write through it and what it points "
                                "to would be uploaded as the product", Location(config.root / rel),
                                hint=f"remove the link from the commit (git rm --cached {rel}) and let the task "
                                "write the file")
            # a product under a committed link that leads out (or into .git / .nbgov)
            real = Path(os.path.realpath(product)) if links else None
            if real is None or not forbidden(real):
                continue
            for rel, target in links.items():
                if real == target or real.is_relative_to(target):
                    where = "outside the project" if not real.is_relative_to(root) else "into git's or nbgov's folder"
                    raise GateError(f"task {t.name}: its product {key!r} ({real}) lies where {rel}, a committed "
                                    f"symbolic link, leads ({target}): {where}; a governed build writes and "
                                    "uploads products only in the project's own folders", Location(config.root / rel),
                                    hint=f"remove the link from the commit (git rm --cached {rel}) and let the "
                                    "task create the folder")


def gate(config: Config, options: BuildOptions, pipeline: Pipeline, env_settings: dict[str, Any]):
    """Everything a build decides before running: the selection, its upstream (fetched from the
    File client when missing here, else refused), the content check, the tasks that would run,
    and the approval gate on them. Returns (selection, infos, check, would_run)."""
    selection = select_tasks(pipeline, options.tasks, options.downstream)
    infos = pipeline.tasks()
    check_driver_approved(pipeline, infos, selection)
    if not options.env and not options.params:
        write_plan(config, infos, pipeline.env_values)  # the next no-op build and status answer from it
    if selection is not None:
        # a worker without the shared file system gets upstream products from the File client
        pipeline.fetch_from_storage(sorted({u for t in infos if t.name in selection for u in t.upstream}
                                           - set(selection)))
        require_built_upstream(config, infos, selection)
    # a governed build skips as fresh only a task whose record and products are this machine's and
    # whose recorded run the store has (services.build.trust, J10): the others run
    untrusted = distrusted(config, infos, NEVER_RUN_KINDS) if _required(options, env_settings) else {}
    if untrusted and isinstance(getattr(pipeline, "warnings", None), list):
        pipeline.warnings.extend(f"task {name} runs again: {why}" for name, why in sorted(untrusted.items()))
    check = content_check(config, infos, pipeline.env_values, set(untrusted))
    # a task whose input content changed runs although Ploomber calls it up to date: gate it too
    would_run = [t for t in infos if (selection is None or t.name in selection)
                 and (options.force or t.outdated or check(t.name, set()) is False)]
    if _required(options, env_settings) and would_run:
        # the review closure of what would run: its sources, the spec, env file, hooks, clients,
        # executor and every project module they import (services.review.targets)
        sources = [t.source_file for t in would_run if t.source_file]
        targets = loaded_closure(config, would_run, _overrides(options))
        refuse_unreviewable(config, would_run, targets)
        refuse_linked_products(config, would_run)
        require_approved(config, targets or sources)
        # a Python that drops the build's environment (-E, env=) reads __pycache__ beside them
        drop_bytecode_beside(config.root, targets or sources)
    return selection, infos, check, would_run


def loaded_closure(config: Config, would_run: list[TaskInfo], overrides: Any = None) -> list[Path]:
    """The review targets of the tasks that would run, as loaded (their sources, kernel folders
    and nbconvert options, a factory's too), after refusing kernel options nbgov cannot review:
    one path for ``nbgov build``'s gate and the ``on_render`` hook's."""
    refuse_kernel_options(config, would_run)
    converted = loaded_nbconvert(config, would_run)  # a factory's template_file too
    sources = [t.source_file for t in would_run if t.source_file]
    folders = [t.kernel_folder for t in would_run if t.kernel_folder is not None]
    return [t.path for t in review_targets(config, sources, overrides=overrides, kernel_folders=folders,
                                           nbconvert=converted)]


def content_check(config: Config, infos: list[TaskInfo], env: dict[str, Any] | None = None,
                  untrusted: set[str] = frozenset()):
    """The per-task content check of a build (see :mod:`nbgov.core.freshness`): compares each
    task's last lineage record with its source version, params, input and product digests now
    (``env``: the env file's values, whose secrets the records mask too). A task of
    ``untrusted`` (:func:`~nbgov.services.build.trust.distrusted`) is never fresh."""
    tasks = {t.name: t for t in infos}
    # records hold params masked with the build's known secrets (any task's secret, under any
    # name): compare today's params masked the same way, or a secret reused as another task's
    # `label` reads as changed on every build
    known = pipeline_secrets([info.params for info in infos], env)

    def rel(path) -> str:
        try:
            return path.resolve().relative_to(config.root).as_posix()
        except ValueError:
            return path.as_posix()

    def digests(paths) -> dict[str, str | None]:
        return {rel(p): file_digest(p) if p.exists() else None for p in paths}

    def check(name: str, ran: set[str]) -> bool | None:
        task = tasks[name]
        if task.record is None or task.kind in NEVER_RUN_KINDS:
            return None  # nothing nbgov records: Ploomber's rules
        if name in untrusted:
            return False
        record = read_record(task.record)
        if record is None:
            # no record (never recorded, or killed before its record was written): outdated,
            # whatever Ploomber's metadata says (core.freshness)
            return decide(None, None, task.params, {}, {}).fresh
        # the same inputs the recorder lists: every existing non-notebook product of each upstream
        inputs = digests(p for up in task.upstream if up in tasks for p in tasks[up].products.values()
                         if p != tasks[up].notebook_product and p.exists())
        products = digests(task.products.values())
        return decide(record.to_dict(), source_version(task), redact_params(task.params, known), inputs,
                      products).fresh

    return check
