"""The tiny project with its products in S3 (Ploomber's File client on moto), committed in a
fresh git repository: what the shared-nothing cluster test and the export-by-commit test build."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.build.conftest import make_tiny

STORAGE = '''import os

from ploomber.clients import S3Client


def get():
    # the prefix lets a test keep a local build's products apart from another build's
    return S3Client(bucket_name="nbgov", parent=os.environ.get("NBGOV_TEST_PREFIX", "tiny"),
                    endpoint_url=os.environ["NBGOV_TEST_S3"])
'''


def git(root: Path, *args: str) -> str:
    """``git ARGS`` in ``root`` (raises on failure); its output."""
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def tiny_s3_project(root: Path) -> Path:
    """The tiny project at ``root`` (created), its products in S3, committed on ``main``."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Ada Author")
    git(root, "config", "user.email", "ada@example.com")
    git(root, "config", "commit.gpgsign", "false")
    (root / "storage.py").write_text(STORAGE)
    make_tiny(root)
    (root / "pipeline.yaml").write_text("clients:\n  File: storage.get\n" + (root / "pipeline.yaml").read_text())
    git(root, "add", "-A")
    git(root, "commit", "-qm", "products in S3")
    return root
