"""The light pipeline.yaml reader (no Ploomber import)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nbgov.adapters.specfile import read_spec
from nbgov.core.errors import PipelineError

SPEC = """\
meta:
  extract_upstream: false
tasks:
  - source: notebooks/ingest.ipynb
    product:
      nb: products/ingest.ipynb
      data: products/raw.csv
    params:
      seed: 42

  - source: notebooks/train.ipynb
    name: fit
    upstream: [ingest]
    product: products/train.ipynb

  - source: tasks.clean.run
    upstream: ingest
    product: products/clean.csv
"""


def test_tasks_as_plain_data(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(SPEC)
    spec = read_spec(path)
    assert [t.name for t in spec.tasks] == ["ingest", "fit", "run"]  # a function: its name, as Ploomber
    ingest, fit, clean = spec.tasks
    assert ingest.product == {"nb": "products/ingest.ipynb", "data": "products/raw.csv"}
    assert ingest.params == {"seed": 42} and ingest.upstream is None
    assert fit.product == "products/train.ipynb" and fit.upstream == ["ingest"]
    assert clean.upstream == ["ingest"] and not clean.is_file
    assert [t.line for t in spec.tasks] == [4, 11, 16]
    assert spec.meta == {"extract_upstream": False}
    assert spec.source_path(ingest) == (tmp_path / "notebooks" / "ingest.ipynb").resolve()
    assert spec.source_path(clean) is None
    assert spec.task("fit") is fit


def test_a_bare_list_of_tasks(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("- source: a.ipynb\n  product: {nb: out/a.ipynb}\n")
    assert [(t.name, t.product) for t in read_spec(path).tasks] == [("a", {"nb": "out/a.ipynb"})]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("tasks:\n  - source: [a\n", "not valid YAML", 3),
        ("meta: {}\n", "no `tasks:` list", None),
        ("tasks:\n  - product: x.csv\n", "task 1 has no `source`", 2),
        ("tasks:\n  - source: a.ipynb\n    params: [1]\n", "`params` must be a mapping", 2),
        ("tasks:\n  - source: a.ipynb\n    upstream: {a: 1}\n", "`upstream` must be a list", 2),
    ],
)
def test_errors_say_what_and_where(tmp_path, text, message, line):
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    with pytest.raises(PipelineError) as err:
        read_spec(path)
    assert message in err.value.message
    assert err.value.where.line == line
    unknown = tmp_path / "none.yaml"
    with pytest.raises(PipelineError, match="not found"):
        read_spec(unknown)


def test_reading_a_spec_does_not_import_ploomber(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(SPEC)
    code = (
        "import sys; from nbgov.adapters.specfile import read_spec; "
        f"read_spec({str(path)!r}); print('ploomber' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
