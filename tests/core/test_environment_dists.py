"""The installed-distributions list of the environment fingerprint, read from folder names,
agrees with importlib.metadata (which parses every METADATA file)."""

from __future__ import annotations

import re
from importlib import metadata

from nbgov.adapters.environment import environment_fingerprint, installed_distributions


def test_folder_names_give_the_same_distributions_as_metadata():
    ours = dict(item.split("==", 1) for item in installed_distributions())
    theirs = {re.sub(r"[-_.]+", "-", d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions()}
    assert set(ours) == set(theirs)
    assert all(ours[name] == theirs[name] for name in ("nbformat", "papermill", "ploomber", "mlflow"))
    assert ours["nbgov"]  # an editable install has a version too


def test_fingerprint_counts_them(tmp_path):
    env = environment_fingerprint(str(tmp_path))
    assert int(env["packages_count"]) == len(installed_distributions())
    assert env["environment_yml_digest"] is None
