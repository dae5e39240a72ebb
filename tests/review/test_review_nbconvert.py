"""nbconvert in nbgov's process (seventh attack round, docs/security.md R4): templates in the
working folder never render, and what a task's ``nbconvert_export_kwargs`` name (template files
and folders, preprocessors and filters by dotted name) is in the review closure; what cannot be
followed is refused by name. In process: no kernel, no build."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from tests.build.conftest import notebook, write_nb

from nbgov.adapters.ploomber import nbconvert_guard
from nbgov.core.config import load_config
from nbgov.services.review.targets import review_targets, unreviewable

SPEC = "tasks:\n  - source: nb/a.ipynb\n    product: out/a.html\n"


def project(root: Path, kwargs: str = "") -> Path:
    (root / "pipeline.yaml").write_text(SPEC + (f"    nbconvert_export_kwargs:\n{kwargs}" if kwargs else ""))
    (root / "nbgov.toml").write_text('experiment = "nbconvert"\n')
    write_nb(root / "nb/a.ipynb", notebook("upstream = None\nproduct = None", "print(1)"))
    for path in ("templates/report.html.j2", "templates/parts/cell.j2", "styles/base/index.html.j2",
                 "filters_mod.py", "prep/__init__.py", "prep/steps.py", "other-files/unrelated.txt"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("{# x #}\n" if path.endswith(".j2") else "X = 1\n")
    return root


def targets(root: Path) -> dict[str, str]:
    return {t.path: t.why for t in review_targets(load_config(root))}


def test_a_template_in_the_working_folder_is_not_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """13: nbconvert's extra_template_basedirs defaulted to the working folder (the project root
    in a build): a `lab/index.html.j2` a pull request adds was rendered in nbgov's process."""
    import nbconvert

    nbconvert_guard.install()
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab/index.html.j2").write_text(
        "{%- extends 'nbconvert/templates/lab/index.html.j2' -%}\n"
        "{%- set _ = lipsum.__globals__['os'].system('touch RENDERED') -%}\n")
    monkeypatch.chdir(tmp_path)
    assert nbconvert.HTMLExporter().extra_template_basedirs == []
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    html, _ = nbconvert.export(nbconvert.HTMLExporter, nb)
    assert "<html" in html and not (tmp_path / "RENDERED").exists()
    named = nbconvert.HTMLExporter(extra_template_basedirs=[os.fspath(tmp_path)])  # named: still honoured
    assert named.extra_template_basedirs == [os.fspath(tmp_path)]


def test_template_files_and_folders_the_options_name_are_targets(tmp_path: Path):
    """01: `template_file` (and every file of its folder: extends/include reach them), template
    folders, preprocessors and filters named by dotted path."""
    assert "templates/report.html.j2" not in targets(project(tmp_path))
    root = project(tmp_path, "      template_file: templates/report.html.j2\n"
                             "      extra_template_basedirs: [styles]\n"
                             "      preprocessors: [prep.steps.Strip]\n"
                             "      filters: {shout: filters_mod.shout}\n")
    found = targets(root)
    assert found["templates/report.html.j2"].startswith("template_file of `nbconvert_export_kwargs` of task")
    assert "template folder" in found["templates/parts/cell.j2"]
    assert "`extra_template_basedirs`" in found["styles/base/index.html.j2"]
    assert "`preprocessors`" in found["prep/steps.py"] and "`filters`" in found["filters_mod.py"]
    assert "other-files/unrelated.txt" not in found


def test_what_cannot_be_followed_is_unreviewable(tmp_path: Path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    root = tmp_path / "p"
    root.mkdir()
    project(root, f"      extra_template_paths: [{outside}]\n      config: {{}}\n")
    problems = unreviewable(load_config(root))
    assert any("`extra_template_paths`" in p and "outside the project" in p for p in problems), problems
    assert any("`config` is not an option nbgov can review" in p for p in problems), problems


def test_eighth_round_template_folders_links_and_options(tmp_path: Path):
    """Eighth attack round: a template folder's every file, in folders named like virtualenvs
    and through linked folders (Jinja follows them); a link leading outside; options nbgov does
    not know (`template_data_paths` is followed, anything else refused), `embed_images`,
    `default_preprocessors`, a dotted `nbconvert_exporter_name`."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("key")
    root = tmp_path / "p"
    root.mkdir()
    project(root, "      extra_template_basedirs: [tpl]\n      template_data_paths: [data-tpl]\n"
                  "      default_preprocessors: [prep.steps.Strip]\n")
    for path in ("tpl/node_modules/index.html.j2", "other-dir/part.j2", "data-tpl/evil.j2", "exporters/mine.py"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x\n")
    (root / "tpl/lib").symlink_to(root / "other-dir")  # a linked folder inside the project
    found = targets(root)
    for path in ("tpl/node_modules/index.html.j2", "other-dir/part.j2", "data-tpl/evil.j2", "prep/steps.py"):
        assert path in found, (path, found)
    assert unreviewable(load_config(root)) == []
    (root / "tpl/leak.j2").symlink_to(outside / "secret.txt")
    spec = (root / "pipeline.yaml").read_text()
    (root / "pipeline.yaml").write_text(spec.replace("      default_preprocessors", "      embed_images: true\n"
                                                     "      template_name: ../x\n      unknown_option: 1\n"
                                                     "      default_preprocessors")
                                        + "    nbconvert_exporter_name: exporters.mine.Exp\n")
    problems = "\n".join(unreviewable(load_config(root)))
    assert "reaches " + str(outside / "secret.txt") in problems and "through a symbolic link" in problems
    assert "`embed_images` reads the files" in problems and "`template_name` '../x' is a path" in problems
    assert "`unknown_option` is not an option nbgov can review" in problems
    assert "`nbconvert_exporter_name` of task" in targets(root)["exporters/mine.py"]
    (root / "pipeline.yaml").write_text(spec + "    nbconvert_exporter_name: my-exp.Exp\n")
    assert any("'my-exp.Exp' names a module that is not a Python name" in p for p in unreviewable(load_config(root)))


def _git_commit(root: Path) -> None:
    import subprocess

    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "a@x.org"], ["config", "user.name", "A"],
                 ["config", "commit.gpgsign", "false"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(root), *args], check=True)


def test_a_template_file_link_reviews_the_links_folder(tmp_path: Path):
    """Ninth round, 02: `template_file: tpl/main.j2`, a committed link to ../real/main.j2:
    nbconvert adds tpl/ (the spelled path's folder) to its search path, so `{% include "part.j2" %}`
    reads tpl/part.j2: it is a target (and the link's target and its folder still are)."""
    root = project(tmp_path, "      template_file: tpl/main.j2\n")
    (root / "real").mkdir()
    (root / "tpl").mkdir()
    (root / "real/main.j2").write_text('{% include "part.j2" %}\n')
    (root / "real/part.j2").write_text("reviewed\n")
    (root / "tpl/part.j2").write_text("served\n")
    (root / "tpl/main.j2").symlink_to("../real/main.j2")
    _git_commit(root)
    found = targets(root)
    assert "template folder" in found["tpl/part.j2"] and "`template_file`" in found["tpl/part.j2"], found
    assert found["real/main.j2"].startswith("template_file of") and "real/part.j2" in found
    assert unreviewable(load_config(root)) == []


def test_a_dotdot_in_a_template_path_is_refused(tmp_path: Path):
    """Ninth round, 09: `template_file: lnk/../t/main.j2` with lnk a link to d1/d2: nbconvert
    reads t/main.j2 (lexical), the physical reading d1/t/main.j2; a `..` in any template path
    option is refused, naming the task and the option."""
    root = project(tmp_path, "      template_file: lnk/../t/main.j2\n      extra_template_paths: [t/../t]\n")
    for rel in ("d1/t/main.j2", "t/main.j2"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    (root / "d1/d2").mkdir()
    (root / "lnk").symlink_to("d1/d2")
    _git_commit(root)
    problems = unreviewable(load_config(root))
    for key in ("template_file", "extra_template_paths"):
        assert any(f"task nb/a.ipynb: `{key}`" in p and "`..`" in p for p in problems), (key, problems)


def test_an_empty_template_folder_link_leaving_the_project_is_refused(tmp_path: Path):
    """A template folder that is a link to an empty folder outside the project: files may appear
    there without a commit, and Jinja would render them."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    root = tmp_path / "p"
    root.mkdir()
    project(root, "      extra_template_paths: [tpls]\n")
    (root / "tpls").mkdir()
    (root / "tpls/sub").symlink_to(outside)
    problems = unreviewable(load_config(root))
    assert any("(extra_template_paths) leads to" in p and "outside the project" in p for p in problems), problems
