"""Fixtures of the security tests: a reviewed project in a real git repo, real SSH keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REVIEW_NB = Path(__file__).resolve().parents[1] / "review" / "notebooks" / "train.ipynb"
BOB = "Bob Reviewer <bob@example.com>"


def git(root: Path, *args: str) -> str:
    """git in ``root``; stdout."""
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def nbgov(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real ``nbgov`` CLI in ``root``."""
    full = {k: v for k, v in os.environ.items() if k not in ("NBGOV_REVIEWER", "NBGOV_ENV")}
    return subprocess.run([sys.executable, "-m", "nbgov", *args], cwd=root, capture_output=True, text=True,
                          timeout=120, env={**full, **(env or {})})


@pytest.fixture
def reviewed(git_repo: Path) -> Path:
    """A committed project (notebooks/train.ipynb authored by Ada <ada@example.com>)."""
    (git_repo / "nbgov.toml").write_text('experiment = "security"\n[review]\npaths = ["notebooks"]\n')
    (git_repo / "notebooks").mkdir()
    shutil.copy(REVIEW_NB, git_repo / "notebooks" / "train.ipynb")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "train notebook")
    return git_repo


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Ed25519 key pairs made by the real ssh-keygen: bob, ada and mallory (no passphrase)."""
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen is required (Debian: apt-get install -y openssh-client)")
    out = {}
    folder = tmp_path / "keys"
    folder.mkdir()
    for name in ("bob", "ada", "mallory"):
        key = folder / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
        out[name] = key
    return out


def allowed_signers(root: Path, keys: dict[str, Path], *names: str) -> Path:
    """Write .nbgov/allowed_signers (git's format: ``principal key-type base64``) for ``names``
    as ``<name>@example.com``."""
    path = root / ".nbgov" / "allowed_signers"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{n}@example.com namespaces=\"nbgov-review\" {keys[n].with_suffix('.pub').read_text().strip()}"
             for n in names]
    path.write_text("\n".join(lines) + "\n")
    return path
