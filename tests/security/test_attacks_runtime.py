"""The breaks an independent tester found in what runs and what leaves (issue 23's second
attack round, docs/security.md R4, R5, I11): the tester's own reproductions, now refused. The
scripts (attacks/runtime_*.sh) build real projects with real kernels and a real tracking store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nbgov.core.config import load_config
from nbgov.core.errors import TrackingError
from nbgov.core.redact_notebook import mask_notebook
from nbgov.services.review.targets import review_targets

HERE = Path(__file__).parent / "attacks"


def _run(name: str, tmp_path: Path) -> dict[str, list[str]]:
    env = {**os.environ, "NBGOV_BIN": str(Path(sys.executable).parent), "ATTACK_DIR": str(tmp_path),
           "PLOOMBER_STATS_ENABLED": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(["bash", str(HERE / name)], capture_output=True, text=True, env=env, timeout=900)
    found: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isupper() and " " not in key:
            found.setdefault(key, []).append(value)
    assert found, proc.stdout[-2000:] + proc.stderr[-2000:]
    return found


def test_a_project_module_named_like_a_library_never_runs_in_the_upload_process(tmp_path):
    # cloudpickle.py in the project folder, not a review target; the build is refused
    assert _run("runtime_A.sh", tmp_path)["RESULT"] == ["HELD"]


def test_a_location_factory_and_modules_loaded_by_magics_are_gated(tmp_path):
    out = _run("runtime_BC.sh", tmp_path)
    assert out["LOCATION_BUILD_RC"] == ["1"] and out["LOCATION"] == ["HELD"]
    assert out["MAGIC_GATE_RC"] == ["1"] and out["MAGIC_BUILD_RC"] == ["1"] and out["MAGIC"] == ["HELD"]


def test_a_tracking_uri_password_stays_off_stderr_and_the_process_list(tmp_path):
    assert _run("runtime_E.sh", tmp_path)["RESULT"] == ["HELD", "HELD"]


def test_magics_that_load_project_code_are_review_targets(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "pipeline.yaml").write_text("tasks:\n  - source: notebooks/a.ipynb\n    product: products/a.ipynb\n")
    cells = ["upstream = None", "%load_ext helpers", "if True:\n    %run tools/run_me.py", "%matplotlib inline"]
    (tmp_path / "notebooks" / "a.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
                  for c in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (tmp_path / "helpers.py").write_text("def load_ipython_extension(ip):\n    pass\n")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "run_me.py").write_text("x = 1\n")
    paths = {t.path for t in review_targets(load_config(tmp_path))}
    assert {"helpers.py", "tools/run_me.py", "notebooks/a.ipynb"} <= paths


def test_secrets_nested_split_or_coloured_in_an_executed_notebook_are_masked():
    def code(source, outputs=(), tags=()):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source, "outputs": list(outputs)}

    nb = {"cells": [
        code('headers = {"X-Api-Key": "S3CRETxHEADERx1"}\n', tags=["injected-parameters"]),
        code("print(1)", [{"output_type": "stream", "name": "stdout", "text": "password="},
                          {"output_type": "stream", "name": "stdout", "text": "S3CRETxSPLITx2\n"}]),
        code("x", [{"output_type": "error", "ename": "E", "evalue": "e", "traceback": [
            '\x1b[0;31mpassword\x1b[0m = \x1b[0;34m"S3CRETxTRACEx3"\x1b[0m; 1/0']}]),
        code('h = {"X-Api-Key": "9fJ2kLq8ZxP0wR4tS3CRETx4"}'),
    ]}
    text = json.dumps(mask_notebook(nb)[0])
    assert [s for s in ("S3CRETxHEADERx1", "S3CRETxSPLITx2", "S3CRETxTRACEx3", "S3CRETx4") if s in text] == []
    assert "print(1)" in text and "password=" in text  # the code and the label are kept


def test_errors_never_print_a_urls_password():
    err = TrackingError("tracking server http://bob:pw-S3CRET@127.0.0.1:5000/ is not reachable",
                        hint="check https://u:S3CRET2@host/x")
    assert "S3CRET" not in str(err) and "http://127.0.0.1:5000/" in str(err)


def test_a_token_in_the_tracking_uris_query_is_masked_everywhere_a_url_is_stripped(tmp_path):
    """Final review, item 5: ``?access_token=...`` is masked by the one stripping rule (errors,
    ``safe_uri``, the server's addresses) and so in ``nbgov lineage``'s error."""
    from nbgov.core.redact import safe_uri

    uri = "http://127.0.0.1:1/?access_token=T0kenS3CRET99&x=1"
    err = TrackingError(f"tracking server {uri} is not reachable", hint=f"check {uri}")
    assert "T0kenS3CRET99" not in str(err) and "http://127.0.0.1:1/?access_token=" in str(err)
    assert safe_uri(uri) == "http://127.0.0.1:1/?access_token=***redacted***&x=1"
    (tmp_path / "pipeline.yaml").write_text("tasks:\n  - source: a.py\n    product: out/a.txt\n")
    (tmp_path / "a.py").write_text("# %% tags=['parameters']\nproduct = None\n")
    (tmp_path / "nbgov.toml").write_text(f'experiment = "tok"\ntracking_uri = "{uri}"\n')
    run = subprocess.run([sys.executable, "-m", "nbgov", "lineage", "a"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert "127.0.0.1:1" in run.stdout + run.stderr, (run.stdout, run.stderr)  # the error names the store
    assert "T0kenS3CRET99" not in run.stdout + run.stderr, run.stderr
