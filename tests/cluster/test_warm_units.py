"""Which workers run a cluster build warm, cold (a subprocess per task) or not at all
(:func:`nbgov.adapters.engines.warm.compare`), without a cluster."""

from __future__ import annotations

from pathlib import Path

from nbgov.adapters.engines.warm import compare, environment_facts, shares_folder


def _facts(root: Path) -> dict:
    return environment_facts(str(root))


def test_the_same_environment_and_checkout_runs_warm(tmp_path: Path):
    facts = _facts(tmp_path)
    assert compare(facts, dict(facts)) == (None, None)


def test_another_commit_or_no_project_is_refused(tmp_path: Path):
    driver = {**_facts(tmp_path), "commit": "a" * 40}
    refuse, _ = compare(driver, {**driver, "commit": "b" * 40})
    assert refuse and "project version bbbbbbbbbbbb" in refuse and "the build is aaaaaaaaaaaa" in refuse
    refuse, _ = compare(driver, {**driver, "exists": False})
    assert refuse and "has no project folder" in refuse


def test_other_packages_run_cold_and_say_why(tmp_path: Path):
    driver = _facts(tmp_path)
    older = {**driver, "packages": {**driver["packages"], "ploomber": "0.1"}}
    assert compare(driver, older) == (None, f"ploomber 0.1 (driver {driver['packages']['ploomber']})")
    assert "Python 3.0.0" in compare(driver, {**driver, "python": "3.0.0"})[1]


def test_a_checkout_in_another_folder_runs_warm_from_it(tmp_path: Path):
    driver = _facts(tmp_path)
    elsewhere = {**driver, "root": "/elsewhere"}
    assert compare(driver, elsewhere) == (None, None)
    assert shares_folder(driver, driver) and not shares_folder(driver, elsewhere)


def test_a_worker_names_its_own_checkout(tmp_path: Path, monkeypatch):
    other = tmp_path / "mine"
    other.mkdir()
    monkeypatch.setenv("NBGOV_WORKER_ROOT", str(other))
    facts = _facts(tmp_path / "driver")
    assert facts["root"] == str(other.resolve()) and facts["exists"] and facts["commit"] is None
