"""The approval half of the promotion gate: each notebook in a model's lineage must be approved
at the version that ran, whatever its status now (unit: a real ledger, lineage as plain data)."""

from __future__ import annotations

from pathlib import Path

from nbgov.core.config import load_config
from nbgov.core.ledger import new_record
from nbgov.services.models.promote import ModelLineage, approval_reasons

#: notebook versions by letter: "nbv1:" + 64 hex digits, shown by their first 12
V = {c: "nbv1:" + c * 64 for c in "abcfi"}


def ledger(root: Path, *decisions: tuple[str, str, str]) -> None:
    path = root / ".nbgov/reviews.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    previous, lines = None, []
    for notebook, version, decision in decisions:
        previous = new_record(previous, notebook=notebook, version=version, decision=decision,
                              reviewer="Rita <r@x.org>")
        lines.append(previous.to_line())
    path.write_text("".join(lines))


def record(task: str, version: str, outcome: str = "succeeded") -> dict:
    return {"task": task, "notebook": {"path": f"notebooks/{task}.ipynb", "version": version},
            "outcome": outcome, "run_id": f"{task}-run", "metrics": {}}


def test_approved_at_the_version_that_ran_even_if_approved_again_later(tmp_path):
    (tmp_path / "nbgov.toml").write_text("")
    ledger(tmp_path, ("notebooks/train.ipynb", V["a"], "approved"),
           ("notebooks/train.ipynb", V["b"], "approved"))
    bad, good = approval_reasons(load_config(tmp_path), ModelLineage([record("train", V["a"])]))
    assert bad == []
    assert good == ["notebooks/train.ipynb (task train) at version aaaaaaaaaaaa: approved"]


def test_each_unapproved_notebook_is_a_reason(tmp_path):
    (tmp_path / "nbgov.toml").write_text("")
    ledger(tmp_path,
           ("notebooks/train.ipynb", V["a"], "approved"),      # a later version ran: stale
           ("notebooks/evaluate.ipynb", V["c"], "approved"),
           ("notebooks/evaluate.ipynb", V["c"], "changes_requested"),
           ("notebooks/features.ipynb", V["f"], "comment"))
    lineage = ModelLineage([record("train", V["b"]), record("evaluate", V["c"]),
                            record("features", V["f"]), record("ingest", V["i"], "failed")])
    bad, good = approval_reasons(load_config(tmp_path), lineage)
    assert good == []
    assert bad == [
        "notebooks/train.ipynb (task train) at version bbbbbbbbbbbb: stale; "
        "approved version is aaaaaaaaaaaa",
        "notebooks/evaluate.ipynb (task evaluate) at version cccccccccccc: changes-requested; "
        "approved version is cccccccccccc",
        "notebooks/features.ipynb (task features) at version ffffffffffff: unreviewed",
        "notebooks/ingest.ipynb (task ingest) at version iiiiiiiiiiii: unreviewed",
        "task ingest run ingest-run failed",
    ]
