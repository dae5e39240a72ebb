"""Property (ninth attack round, docs/security.md R4): for any `template_file` spelled from path
parts that include `..`, `.`, a linked folder and a linked file, either every file nbconvert could
read from the folders it adds to its template search path is a review target, or the gate
refuses the option. nbconvert itself (its exporter, in the project folder) says which folders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.review.test_review_nbconvert import project

from nbgov.core.config import load_config
from nbgov.services.review.targets import review_targets

PARTS = ("t", "d1", "d2", "lnk", "flnk", "..", ".")
FILES = ("main.j2", "lmain.j2")


def _layout() -> Path:
    root = Path(tempfile.mkdtemp(prefix="nbconvert-paths-")).resolve()
    project(root)
    for rel in ("t/main.j2", "t/part.j2", "d1/t/main.j2", "d1/part.j2", "d1/d2/main.j2", "d1/d2/part.j2",
                "main.j2", "part.j2"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    (root / "lnk").symlink_to("d1/d2")  # a linked folder: `..` below it differs lexically
    (root / "flnk").symlink_to("t")
    for folder in ("t", "d1", "d1/d2", "."):
        (root / folder / "lmain.j2").symlink_to("main.j2" if folder != "." else "t/main.j2")
    return root


ROOT = _layout()


def _searched(root: Path, spelling: str) -> list[str]:
    """The folders nbconvert adds to its template paths for ``template_file: spelling``."""
    import nbconvert

    here = os.getcwd()
    os.chdir(root)
    try:
        exporter = nbconvert.HTMLExporter(template_file=spelling)
        return list(exporter.extra_template_paths)
    finally:
        os.chdir(here)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PARTS), min_size=0, max_size=3), st.sampled_from(FILES))
def test_every_file_nbconvert_may_read_is_a_target_or_the_option_is_refused(parts: list[str], name: str):
    spelling = "/".join([*parts, name])
    (ROOT / "pipeline.yaml").write_text("tasks:\n  - source: nb/a.ipynb\n    product: out/a.html\n"
                                        f"    nbconvert_export_kwargs:\n      template_file: '{spelling}'\n")
    problems: list[str] = []
    found = {ROOT / t.path for t in review_targets(load_config(ROOT), problems=problems)}
    if any("`template_file`" in p for p in problems):
        return  # refused: the gate fails, a governed build runs nothing
    for folder in _searched(ROOT, spelling):
        for here, _dirs, files in os.walk(folder, followlinks=True):
            for file in files:
                real = Path(os.path.realpath(os.path.join(here, file)))
                if real.is_relative_to(ROOT):
                    assert real in found, (spelling, folder, real)
