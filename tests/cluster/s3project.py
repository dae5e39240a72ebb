"""The tiny project with its products in S3 (Ploomber's File client on moto), committed in a
fresh git repository: what the shared-nothing cluster test and the export-by-commit test build."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.build.conftest import make_tiny
from tests.conftest import free_port

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


@contextlib.contextmanager
def moto_s3() -> Iterator[dict[str, str]]:
    """moto's S3 on 127.0.0.1 with the bucket ``nbgov``; the environment that reaches it."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"NBGOV_TEST_S3": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    boto3.client("s3", endpoint_url=env["NBGOV_TEST_S3"], aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket="nbgov")
    try:
        yield env
    finally:
        server.stop()
