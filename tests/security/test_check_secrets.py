"""Attack 3 of issue 13: ``nbgov check`` missed secrets, and skipped a file named on the command
line under a default exclude; plus the one rule set (:mod:`nbgov.core.redact`) it shares with
the recorder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from nbgov.core.redact import REDACTED, is_secret_name, redact_params, redact_record
from nbgov.core.redact_notebook import mask_notebook
from nbgov.services.check.engine import run_check

FIXTURE = Path(__file__).parent / "fixtures" / "secrets--leaky.ipynb"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9xk3Lr2T"
LEAKS = [AWS_SECRET, "Tr0ub4dor&3", "hunter2-prod", "9f8e7d6c5b4a39281706f5e4", "SflKxwRJSMeKKF2QT4fw",
         "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "Sup3rS3cret!"]


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(FIXTURE, root / "notebooks" / FIXTURE.name)
    (root / "nbgov.toml").write_text('[check]\noutputs = "allow"\n')
    return root


def test_check_finds_each_secret_shape(tmp_path: Path) -> None:
    report = run_check(root=_project(tmp_path), plugins=False)
    found = {(f.rule, f.cell): f.message for f in report.findings if f.rule in ("NBG501", "NBG502")}
    assert "password assigned" in found[("NBG501", 0)]          # passwd: in markdown
    assert "AWS secret access key" in found[("NBG502", 1)]      # unquoted, in an output
    assert "password assigned" in found[("NBG502", 2)]          # password=... unquoted
    assert "token in URL" in found[("NBG502", 3)]
    assert "JSON web token" in found[("NBG502", 4)]
    assert "private key" in found[("NBG502", 5)]
    assert "password assigned" in found[("NBG501", 6)]          # a shell escape's --password=
    # a call and a counter are code, not secrets: cell 6 has exactly one finding
    assert sum(1 for f in report.findings if f.cell == 6) == 1
    text = json.dumps([f.message for f in report.findings])
    assert not any(leak in text for leak in LEAKS), "a finding echoed the secret"


def test_a_named_file_under_a_default_exclude_is_checked(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "products").mkdir()
    shutil.copy(FIXTURE, root / "products" / "b.ipynb")
    result = subprocess.run([sys.executable, "-m", "nbgov", "check", "products/b.ipynb"], cwd=root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "products/b.ipynb" in result.stdout and "NBG502" in result.stdout
    # a folder walk still skips products/ (the default exclude)
    walked = run_check(root=root, plugins=False)
    assert all("products/" not in f.path for f in walked.findings)


def test_a_named_file_under_the_users_exclude_is_skipped_with_a_note(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "nbgov.toml").write_text('[check]\nexclude = ["notebooks/**"]\n')
    report = run_check([root / "notebooks" / FIXTURE.name], root=root, plugins=False)
    assert report.files == 0
    assert report.notes == [f"notebooks/{FIXTURE.name}: skipped, excluded by [check] exclude"]


def test_mask_notebook_masks_every_secret_and_counts_them() -> None:
    nb = json.loads(FIXTURE.read_text())
    masked, count = mask_notebook(nb)
    text = json.dumps(masked)
    assert not any(leak in text for leak in LEAKS)
    assert count >= len(LEAKS) and text.count(REDACTED) == count
    assert json.loads(FIXTURE.read_text()) == nb  # the input is not modified
    assert "get_password()" in text and "max_tokens = 512" in text  # code left alone


def test_mask_notebook_masks_papermill_parameters_and_tracebacks() -> None:
    nb = {"metadata": {"papermill": {"parameters": {"password": "pw-123456", "seed": 1}}}, "nbformat": 4,
          "nbformat_minor": 5, "cells": [
              {"cell_type": "code", "id": "i", "metadata": {"tags": ["injected-parameters"]},
               "source": 'password = "pw-123456"\nseed = 1\n', "outputs": [], "execution_count": 1},
              {"cell_type": "code", "id": "t", "metadata": {}, "source": "connect()", "execution_count": 2,
               "outputs": [{"output_type": "error", "ename": "OperationalError",
                            "evalue": "could not connect to postgresql://etl:pw-123456@db:5432/x",
                            "traceback": ["\x1b[0;31mOperationalError\x1b[0m: postgresql://etl:pw-123456@db/x"]}]}]}
    masked, count = mask_notebook(nb)
    assert "pw-123456" not in json.dumps(masked)
    assert masked["metadata"]["papermill"]["parameters"] == {"password": REDACTED, "seed": 1}
    assert count == 4


def test_redact_params_and_records_by_name_and_by_value() -> None:
    params = {"password": "x", "db": {"api_key": "k" * 20, "host": "h"}, "max_tokens": 5, "token_count": 3,
              "url": "postgresql://u:pw-999999@db/x", "seed": 42}
    out = redact_params(params)
    assert out == {"password": REDACTED, "db": {"api_key": REDACTED, "host": "h"}, "max_tokens": 5,
                   "token_count": 3, "url": f"postgresql://u:{REDACTED}@db/x", "seed": 42}
    record = {"task": "a", "params": params, "error": f"cell 3: ValueError: bad key {AWS_SECRET[:0]}"
              "aws_secret_access_key=" + AWS_SECRET, "products": {"x": {"digest": "sha256:" + "a" * 64}}}
    safe = redact_record(record)
    assert safe["params"]["password"] == REDACTED and AWS_SECRET not in json.dumps(safe)
    assert safe["products"] == record["products"] and record["params"]["password"] == "x"
    assert is_secret_name("dbPassword") and is_secret_name("AWS_SECRET_ACCESS_KEY")
    assert not is_secret_name("tokenizer") and not is_secret_name("secret_name")
    # seventh attack round: names that were in clear in MLflow params
    for name in ("db_pass", "smtp_pass", "pw", "authorization", "encryption_key", "service_account_key",
                 "bearer", "session_cookie", "jwt", "master_key", "storage_key"):
        assert is_secret_name(name), name
    for name in ("pass_rate", "password_min", "bypass", "compass", "keyword", "cookie_name"):
        assert not is_secret_name(name), name


def test_tracking_secrets_policy_is_validated(tmp_path: Path) -> None:
    import pytest

    from nbgov.core.config import load_config
    from nbgov.core.errors import ConfigError

    (tmp_path / "nbgov.toml").write_text("")
    assert load_config(tmp_path).secrets_policy == "redact"
    (tmp_path / "nbgov.toml").write_text('[tracking]\nsecrets = "refuse"\n')
    assert load_config(tmp_path).secrets_policy == "refuse"
    (tmp_path / "nbgov.toml").write_text('[tracking]\nsecrets = "off"\n')
    with pytest.raises(ConfigError, match=r"\[tracking\] secrets must be one of redact, refuse, allow"):
        load_config(tmp_path)
    (tmp_path / "nbgov.toml").write_text('[tracking]\nsecret = "allow"\n')
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(tmp_path)


def test_guard_notebook_applies_each_policy() -> None:
    import pytest

    from nbgov.core.errors import GateError
    from nbgov.core.redact_notebook import guard_notebook

    nb = json.loads(FIXTURE.read_text())
    masked, count = guard_notebook(nb, "redact")
    assert count >= len(LEAKS) and AWS_SECRET not in json.dumps(masked)
    same, found = guard_notebook(nb, "allow")
    assert same is nb and found == count
    with pytest.raises(GateError, match=f"{count} secret"):
        guard_notebook(nb, "refuse", "products/a.ipynb")
    clean = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert guard_notebook(clean, "refuse") == (clean, 0)


def test_a_redacted_record_still_reads_as_fresh() -> None:
    """Records keep parameters redacted; the content rules compare both sides redacted."""
    from nbgov.core.freshness import decide

    params = {"password": "hunter2-prod", "seed": 1}
    record = {"outcome": "succeeded", "notebook": {"version": "v"}, "params": redact_params(params),
              "inputs": []}
    assert decide(record, "v", params, {}, {"p": "sha256:x"}).fresh is True
    assert decide(record, "v", {**params, "seed": 2}, {}, {"p": "sha256:x"}).fresh is False
