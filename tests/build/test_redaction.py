"""What a build sends to MLflow as parameters: every value as a string, and the value of a
secret-looking parameter name never (``nbgov.services.recording.tracking.redact_params``); and a
build's known secrets (``nbgov.core.redact_known.KnownSecrets``): that value wherever it turns up."""

from __future__ import annotations

import html
import json
import urllib.parse
from pathlib import Path

import pytest

from nbgov.core.journal import Journal
from nbgov.core.redact import REDACTED, mask_text, redact_record
from nbgov.core.redact_known import MIN_KNOWN_LENGTH, KnownSecrets
from nbgov.core.redact_notebook import mask_notebook
from nbgov.services.recording.tracking import redact_params


@pytest.mark.parametrize("name", [
    "password", "db_password", "PASSWD", "secret", "client_secret", "api_token", "TOKEN",
    "api_key", "api-key", "apikey", "API_KEY", "credential", "gcp_credentials", "private_key",
    "private-key", "privatekey", "ssh_PRIVATE_KEY",
])
def test_secret_looking_names_are_redacted(name):
    """By the words of the name, any case (nbgov.core.redact: the one rule set of params,
    lineage records, scraps and notebooks)."""
    out = redact_params({name: "s3cr3t-value", "x": 1})
    assert out == {name: REDACTED, "x": "1"}
    assert REDACTED == "***redacted***"


@pytest.mark.parametrize("value", ["s3cr3t", 12345, {"nested": "s3cr3t"}, ["s3cr3t"]])
def test_a_secret_of_any_type_is_redacted(value):
    assert redact_params({"token": value}) == {"token": REDACTED}


@pytest.mark.parametrize("name", ["x", "C", "max_iter", "keyword", "path", "n_keys", "private", "api",
                                  "key", "pas", "cred", "tokenizer_vocab", "token_count"])
def test_ordinary_names_keep_their_value(name):
    assert redact_params({name: "value"}) == {name: "value"}


def test_values_become_mlflow_strings():
    out = redact_params({"s": "text", "i": 3, "f": 1.5, "b": True, "n": None, "l": [1, "a"],
                         "d": {"k": 2}, "p": object.__new__(type("P", (), {"__str__": lambda s: "P!"}))})
    assert out == {"s": "text", "i": "3", "f": "1.5", "b": "true", "n": "null", "l": '[1, "a"]',
                   "d": '{"k": 2}', "p": '"P!"'}
    assert all(isinstance(v, str) for v in out.values())
    assert redact_params({}) == {}


# -- a build's known secrets (R5: a secret-named parameter's value, wherever it turns up) --------
PASSWORD = "Hunter2\\Plain-'xyz&<"  # a backslash, a quote, HTML's & and <: every printed form differs


def known_of(params: dict) -> KnownSecrets:
    known = KnownSecrets()
    known.add_params(params)
    return known


@pytest.mark.parametrize("shown", [
    PASSWORD, repr(PASSWORD), json.dumps(PASSWORD), json.dumps(repr(PASSWORD)), html.escape(PASSWORD),
    html.escape(PASSWORD, quote=False), urllib.parse.quote(PASSWORD, safe=""), f"\x1b[31m{PASSWORD}\x1b[0m",
])
def test_a_known_secret_is_masked_in_every_form_python_json_html_or_a_url_print(shown):
    known = known_of({"db_password": PASSWORD})
    masked, n = mask_text(f"login refused for {shown}.", known=known)
    assert n >= 1 and "Hunter2" not in masked and masked.startswith("login refused for ")
    assert mask_text(f"login refused for {shown}.")[1] == 0  # the rules alone do not see it


def test_known_secrets_come_from_secret_names_at_any_depth_and_from_the_value_rules():
    known = known_of({"db_password": "pw-123456", "conn": {"api_token": "tok-9dK2mQ7vX4pL", "host": "db.internal"},
                      "header": "Bearer 7f3kQ9xLm2Pz8RtY4wVb0nQ", "n_tokens": 3, "api_key": 12345678,
                      "secrets": ["first-secret", {"x": "second-secret"}], "token": None, "pwd": "abc",
                      "password": REDACTED})
    text = "pw-123456 tok-9dK2mQ7vX4pL 7f3kQ9xLm2Pz8RtY4wVb0nQ 12345678 first-secret second-secret"
    assert mask_text(text, known=known)[0] == " ".join([REDACTED] * 6)
    # short values are masked by name only: every `abc` of a notebook would go
    assert len("abc") < MIN_KNOWN_LENGTH and mask_text("abc db.internal 3", known=known)[1] == 0
    assert not KnownSecrets() and mask_text("pw-123456", known=KnownSecrets())[1] == 0


def test_a_known_secret_overlapping_a_rules_match_is_masked_whole():
    """A known value ending inside a bearer token the rules find: neither leaves a part visible."""
    known = known_of({"secret": "pw:Bearer 7f3kQ9"})
    masked, _ = mask_text("pw:Bearer 7f3kQ9xLm2Pz8RtY4wVb0nQ!", known=known)
    assert masked == f"{REDACTED}!"


def test_the_executed_notebook_is_masked_everywhere_with_known_secrets():
    known = known_of({"db_password": "Hunter2-Plain-xyz"})
    nb = {"metadata": {"papermill": {"parameters": {"db_password": "Hunter2-Plain-xyz"}}}, "nbformat": 4,
          "nbformat_minor": 5, "cells": [
              {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "execution_count": 1,
               "source": 'db_password = "Hunter2-Plain-xyz"\n', "outputs": []},
              {"cell_type": "code", "metadata": {}, "execution_count": 2, "source": "print(db_password)",
               "outputs": [{"output_type": "stream", "name": "stdout",
                            "text": ["connecting with Hunter2-", "Plain-xyz\n"]},
                           {"output_type": "execute_result", "execution_count": 2, "metadata": {},
                            "data": {"text/plain": ["'Hunter2-Plain-xyz'"]}},
                           {"output_type": "error", "ename": "ValueError", "evalue": "refused Hunter2-Plain-xyz",
                            "traceback": ["\x1b[31mValueError\x1b[39m: refused Hunter2-Plain-xyz"]}]}]}
    masked, n = mask_notebook(nb, known)
    assert "Hunter2" not in json.dumps(masked) and n >= 5
    assert "Hunter2" in json.dumps(mask_notebook(nb)[0])  # the rules alone leave the printed value


def test_every_textual_output_is_masked_and_only_base64_binaries_are_skipped():
    """SVG, CSV, any text/* or *json output is text: masked; a png's base64 is never touched."""
    known = known_of({"api_key": "Zq9-s3cr3t-VALUE-7781"})
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==\n"
    data = {"image/svg+xml": ["<svg><text>key Zq9-s3cr3t-VALUE-7781", "</text></svg>"],
            "text/csv": "name,key\nsvc,Zq9-s3cr3t-VALUE-7781\n",
            "application/vnd.custom+json": {"k": "Zq9-s3cr3t-VALUE-7781"},
            "application/x-custom": "k=Zq9-s3cr3t-VALUE-7781", "image/png": png,
            "image/jpeg": "not base64: Zq9-s3cr3t-VALUE-7781"}
    nb = {"metadata": {}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "show()",
         "outputs": [{"output_type": "display_data", "metadata": {}, "data": data}]}]}
    masked, n = mask_notebook(nb, known)
    out = masked["cells"][0]["outputs"][0]["data"]
    assert "Zq9-s3cr3t" not in json.dumps(masked) and n == 5
    assert out["image/png"] == png and out["text/csv"] == f"name,key\nsvc,{REDACTED}\n"
    assert "".join(out["image/svg+xml"]) == f"<svg><text>key {REDACTED}</text></svg>"


def test_a_record_masks_known_secrets_in_text_and_never_in_its_identifiers():
    known = known_of({"secret": "0a1b2c3d4e5f"})  # looks like part of a digest
    record = {"error": "failed with 0a1b2c3d4e5f", "params": {"secret": "0a1b2c3d4e5f", "note": "x 0a1b2c3d4e5f"},
              "products": {"m": {"path": "out/0a1b2c3d4e5f.pkl", "digest": "sha256:990a1b2c3d4e5f00"}},
              "run_id": "770a1b2c3d4e5f", "environment": {"python": "3.11 0a1b2c3d4e5f"}}
    out = redact_record(record, known)
    assert out["error"] == f"failed with {REDACTED}" and out["params"] == {"secret": REDACTED, "note": f"x {REDACTED}"}
    assert out["products"] == record["products"] and out["run_id"] == record["run_id"]
    assert out["environment"] == {"python": f"3.11 {REDACTED}"}


def test_the_journal_masks_its_builds_known_secrets_in_every_event(tmp_path: Path):
    known = known_of({"api_token": "tok-9dK2mQ7vX4pL"})
    journal = Journal(tmp_path, "b1", known=known)
    event = journal.append("task_finished", key="b1/a", error="refused tok-9dK2mQ7vX4pL",
                           tags={"nbgov.error": "refused tok-9dK2mQ7vX4pL"})
    journal.release()
    assert event["error"] == f"refused {REDACTED}" and event["tags"]["nbgov.error"] == f"refused {REDACTED}"
    assert b"tok-9dK2mQ7vX4pL" not in journal.path.read_bytes()


def test_an_executed_notebook_whose_masked_copy_is_missing_is_withheld(tmp_path: Path):
    """The build flags an executed notebook holding a known secret (``masked``) and keeps a masked
    copy in the journal; a sender (``nbgov sync``, which never saw the params) that finds no such
    copy sends nothing in its place, never the file with the secret."""
    from nbgov.services.recording.sender import Sender, SendState, staged_name

    (tmp_path / "products").mkdir()
    (tmp_path / "products/a.ipynb").write_text('{"cells": [], "secret": "tok-9dK2mQ7vX4pL"}')
    journal = Journal(tmp_path / "journal", "b1")
    item = {"path": "products/a.ipynb", "dir": "notebook", "masked": "copy"}
    event = {"seq": 3, "artifacts": [item]}
    sender = Sender(tracker=None, root=tmp_path)  # type: ignore[arg-type]  # (no store is asked)
    out, changed = sender._artifacts(SendState(journal), event)
    assert out == [] and changed == ["products/a.ipynb (withheld: holds a secret parameter's value)"]
    staged = journal.files / staged_name(3, item)
    staged.parent.mkdir(parents=True)
    staged.write_text('{"cells": []}')
    assert sender._artifacts(SendState(journal), event) == ([(staged, "notebook")], [])
    refusing = Sender(tracker=None, root=tmp_path, secrets="refuse")  # type: ignore[arg-type]
    assert refusing._artifacts(SendState(journal), event) == (
        [], ["products/a.ipynb (refused: held a secret parameter's value)"])


@pytest.mark.parametrize("shown", [
    repr("pä\"ss'wörd\\99<x>".encode()), json.dumps(repr("pä\"ss'wörd\\99<x>".encode())),
    ascii("pä\"ss'wörd\\99<x>"),
])
def test_a_non_ascii_known_secret_is_masked_in_its_bytes_and_ascii_repr(shown):
    """``ValueError(secret.encode())`` in a traceback prints ``b'p\\xc3\\xa4...'``."""
    known = known_of({"api_token": "pä\"ss'wörd\\99<x>"})
    masked, n = mask_text(f"ValueError: {shown}", known=known)
    assert n == 1 and "ss" not in masked and "99" not in masked, masked


def test_withheld_products_are_those_holding_a_known_secret_in_their_bytes(tmp_path: Path):
    """A product (text or binary) holding a known value's UTF-8 bytes is flagged ``withheld``
    and never changed; the sender names it instead of uploading it, even from a journal copy."""
    from nbgov.services.recording.masking import flag_secret_products
    from nbgov.services.recording.sender import Sender, SendState, staged_name

    known = known_of({"db_password": "Zq9vX2mP-ä4tL8wQ"})
    (tmp_path / "products/dir").mkdir(parents=True)
    (tmp_path / "products/out.json").write_text('{"conn": "Zq9vX2mP-ä4tL8wQ"}', encoding="utf-8")
    (tmp_path / "products/blob.bin").write_bytes(b"\x00\xff" * 9000 + "Zq9vX2mP-ä4tL8wQ".encode() + b"\x00")
    (tmp_path / "products/dir/part.csv").write_text("x,Zq9vX2mP-ä4tL8wQ\n", encoding="utf-8")
    (tmp_path / "products/clean.csv").write_text("a,b\n")
    items = [{"path": f"products/{n}", "dir": "products"} for n in ("out.json", "blob.bin", "dir", "clean.csv")]
    payload = {"artifacts": [*items, {"path": "products/a.ipynb", "dir": "notebook"}]}
    withheld = flag_secret_products(payload, tmp_path, known)
    assert withheld == ["products/out.json", "products/blob.bin", "products/dir"]
    assert [i.get("withheld") for i in items] == [True, True, True, None]
    assert "Zq9vX2mP" in (tmp_path / "products/out.json").read_text()  # the user's file, untouched
    assert flag_secret_products({"artifacts": [dict(i) for i in items]}, tmp_path, KnownSecrets()) == []
    journal = Journal(tmp_path / "journal", "b1")
    staged = journal.files / staged_name(3, items[0])
    staged.parent.mkdir(parents=True)
    staged.write_text("a copy kept while the store was down")
    sender = Sender(tracker=None, root=tmp_path)  # type: ignore[arg-type]  # (no store is asked)
    out, changed = sender._artifacts(SendState(journal), {"seq": 3, "artifacts": items})
    assert out == [(tmp_path / "products/clean.csv", "products")]
    assert changed[0] == "products/out.json (withheld: holds a secret parameter's value)" and len(changed) == 3


def test_the_plan_cache_masks_the_pipelines_known_secrets_under_any_name():
    """Task a's ``api_key`` value is task b's ``label``: masked in b's params too."""
    from nbgov.services.pipeline.plan import masked_task_params

    tasks = [{"name": "a", "params": {"api_key": "Kq8vT3nW7rYp2z"}},
             {"name": "b", "params": {"label": "Kq8vT3nW7rYp2z", "n": 3, "note": "x Kq8vT3nW7rYp2z"}}]
    out = masked_task_params(tasks)
    assert [t["params"] for t in out] == [{"api_key": REDACTED},
                                          {"label": REDACTED, "n": 3, "note": f"x {REDACTED}"}]


def test_a_builds_stdout_and_stderr_mask_its_known_secrets_until_removed(capsys):
    """A function task runs in nbgov's process: its prints (and its logging, through a handler
    writing to ``sys.stderr``: tests/security) reach nbgov's terminal masked while the build runs."""
    import sys

    from nbgov.services.recording.masking import mask_logs

    known = known_of({"api_password": "Hx7pQ2vN9kLm3s"})
    remove = mask_logs(known)
    try:
        sys.stderr.write("stderr: Hx7pQ2vN9kLm3s\n")
        print("stdout:", repr("Hx7pQ2vN9kLm3s"))
    finally:
        remove()
    print("after: Hx7pQ2vN9kLm3s")
    out, err = capsys.readouterr()
    assert err == f"stderr: {REDACTED}\n"
    assert out == f"stdout: '{REDACTED}'\nafter: Hx7pQ2vN9kLm3s\n"  # removed: as it was


def test_the_env_files_secret_named_values_are_known_secrets(tmp_path: Path):
    """env.yaml's ``api_token`` reaching a task as ``header: "{{api_token}}"`` (or given by
    ``--env``) is a known secret: masked in the plan's params, the content check and the build's
    recorder (hence MLflow params, the lineage record and the notebook artifact)."""
    from types import SimpleNamespace

    from nbgov.adapters.ploomber import Pipeline
    from nbgov.services.pipeline.plan import masked_task_params, pipeline_secrets
    from nbgov.services.recording.recorder import Recorder

    (tmp_path / "env.yaml").write_text('api_token: "Zq9-s3cr3t-VALUE-7781"\nseed: 1\n')
    (tmp_path / "pipeline.yaml").write_text("tasks:\n  - source: fn.run\n    product: out.txt\n"
                                            '    params: {header: "{{api_token}}"}\n')
    (tmp_path / "fn.py").write_text("def run(product, header):\n    pass\n")
    pipeline = Pipeline(tmp_path / "pipeline.yaml", env={"api_token": "Other-s3cr3t-4412"})
    assert pipeline.env_values == {"api_token": "Other-s3cr3t-4412", "seed": 1}  # --env: data, as given
    params = [t.params for t in pipeline.tasks()]
    assert params == [{"header": "Other-s3cr3t-4412"}]
    records = [{"params": p} for p in params]
    assert masked_task_params(records, pipeline.env_values) == [{"params": {"header": REDACTED}}]
    assert masked_task_params(records) == [{"params": {"header": "Other-s3cr3t-4412"}}]
    known = pipeline_secrets(params, pipeline.env_values)
    assert mask_text("x Other-s3cr3t-4412", known=known)[1] == 1
    recorder = SimpleNamespace(secrets=KnownSecrets())  # (use_tasks only feeds the recorder's secrets)
    Recorder.use_tasks(recorder, pipeline.tasks(), pipeline.env_values)  # type: ignore[arg-type]
    assert recorder.secrets.mask("calling with Other-s3cr3t-4412") == f"calling with {REDACTED}"
