"""What the wheel ships besides the code: the license, and the Jupyter configuration that
switches off the extensions nbgov's dependencies bring and that conflict with it."""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

from jupyter_server.config_manager import BaseJSONConfigManager

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_license_matches_the_metadata():
    assert PROJECT["project"]["license"] == "BSD-3-Clause"
    assert PROJECT["project"]["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder" in text


def _install_etc(tmp_path: Path) -> Path:
    """etc/jupyter as an install of the wheel leaves it: the dependencies' own conf.d files (from
    this venv, where they are installed), then nbgov's, laid out by the wheel's shared-data map."""
    etc = tmp_path / "etc" / "jupyter"
    shutil.copytree(Path(sys.prefix) / "etc" / "jupyter", etc)
    for f in etc.rglob("*nbgov*.json"):
        f.unlink()  # the dev install's copies: only the map below says where they go
    shared = PROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    for source, target in shared.items():
        if source.startswith("jupyter-config/"):
            dest = tmp_path / target
            dest.mkdir(parents=True, exist_ok=True)
            for f in (REPO / source).iterdir():
                shutil.copy(f, dest / f.name)
    return etc


def test_jupyter_config_switches_off_ploomber_and_nbclassic(tmp_path):
    etc = _install_etc(tmp_path)
    assert (etc / "jupyter_server_config.d" / "ploomber.json").exists()  # the conflict is real here
    # read as jupyter_server reads them: every conf.d file, merged in name order
    server = BaseJSONConfigManager(config_dir=str(etc)).get("jupyter_server_config")
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgov.server"] is True
    assert extensions["ploomber"] is False
    assert extensions["nbclassic"] is False
    assert extensions.get("ploomber_extension", False) is False
    lab = BaseJSONConfigManager(config_dir=str(etc / "labconfig")).get("page_config")
    assert lab["disabledExtensions"]["ploomber-extension"] is True
    assert "jupyterlab-nbgov" not in lab["disabledExtensions"]
    classic = BaseJSONConfigManager(config_dir=str(etc)).get("jupyter_notebook_config")
    assert classic["NotebookApp"]["nbserver_extensions"]["ploomber"] is False


def test_example_libraries_are_an_extra_nbgov_never_imports():
    deps = " ".join(PROJECT["project"]["dependencies"])
    assert "scikit-learn" not in deps and "pandas" not in deps
    assert {d.split(">")[0] for d in PROJECT["project"]["optional-dependencies"]["example"]} == {
        "scikit-learn", "pandas"}
    for path in (REPO / "src" / "nbgov").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in {"sklearn", "pandas", "scipy"}, f"{path}: {line}"
