"""Attack 6 of issue 13: confinement gaps in the server API (a real Jupyter server)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from nbgov.server.paths import scrub_paths

LOAD = "notebooks/load.ipynb"


async def test_lineage_target_with_colon_slash_is_confined(api, jp_root_dir, tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("not yours\n")
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    depth = len(jp_root_dir.relative_to(tmp_path).parts)
    for target in ("a:/" + "../" * (depth + 1) + "outside.txt", "x:/../../outside.txt", str(secret),
                   "models:/../" + str(secret)):
        status, body = await api("lineage", params={"target": target})
        assert status in (400, 404, 503), (target, status, body)  # 503: a model URI asks MLflow
        text = json.dumps(body)
        assert digest not in text and str(tmp_path) not in text, target


async def test_lineage_target_symlinked_to_a_device_is_refused(api, jp_root_dir):
    (jp_root_dir / "zero.csv").symlink_to("/dev/zero")
    status, body = await api("lineage", params={"target": "zero.csv"})
    assert status == 400 and body["error"] == "PathRefusedError", body


async def test_paths_over_4096_bytes_are_400_not_500(api):
    for path in ("a/" * 2100 + "x.ipynb", "n" * 300 + ".ipynb"):
        for route in ("review", "diff", "task-context"):
            status, body = await api(route, params={"path": path})
            assert status == 400, (route, len(path), status, body)
            assert body["error"] == "PathRefusedError"
    status, body = await api("lineage", params={"target": "p/" * 2100})
    assert status == 400, body


async def test_review_settings_cannot_move_writes_outside_the_root(api, jp_root_dir, tmp_path):
    for key, value in (("ledger", "../outside/reviews.jsonl"), ("snapshots", str(tmp_path / "snaps")),
                       ("ledger", str(tmp_path / "elsewhere.jsonl"))):
        (jp_root_dir / "nbgov.toml").write_text(f'experiment = "x"\n[review]\n{key} = "{value}"\n')
        status, body = await api("review", method="POST", body={"path": LOAD, "decision": "comment"})
        assert status == 400 and body["error"] == "ConfigError", body
        assert f"[review] {key} must stay inside the project" in body["message"]
        assert str(tmp_path) not in json.dumps(body)
    assert not (tmp_path / "outside").exists() and not (tmp_path / "elsewhere.jsonl").exists()
    assert not (tmp_path / "snaps").exists()


def test_scrub_paths_keeps_urls_and_relativises_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    text = f"see {root}/a/b.ipynb, {root} and /etc/passwd; http://h:5000/x and models:/m/1"
    assert scrub_paths(text, root) == "see a/b.ipynb, . and passwd; http://h:5000/x and models:/m/1"
    assert scrub_paths(f"store sqlite:///{root}/mlflow.db, file://{root}/mlruns", root) == (
        "store sqlite:///mlflow.db, file://mlruns")
