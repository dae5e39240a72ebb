"""A secret parameter (a name like api_token, from env.yaml) must not reach the tracking store:
neither its database (params, tags) nor the artifacts uploaded with each run (the executed
notebook is uploaded masked, the lineage record redacted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.integration
SECRET = b"s3cr3t-value"  # env.yaml's token in the tiny project, passed as param api_token


def test_secret_param_reaches_neither_the_store_nor_the_artifacts(tiny: Path):
    proc = run_cli(tiny, "build", "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert SECRET not in (tiny / "mlflow.db").read_bytes()
    artifacts = [p for p in (tiny / "mlruns").rglob("*") if p.is_file()]
    assert any(p.name == "a.ipynb" for p in artifacts)  # the artifacts are there to look at
    leaked = sorted(str(p.relative_to(tiny)) for p in artifacts if SECRET in p.read_bytes())
    assert leaked == []
    # nor the local lineage record or the journal (both may be copied or synced elsewhere)
    assert SECRET not in (tiny / "products/a.lineage.json").read_bytes()
    assert all(SECRET not in p.read_bytes() for p in (tiny / ".nbgov/journal").rglob("*.jsonl"))
