"""Products downloaded from object storage (Ploomber's ``File`` client, S3 through moto in this
process): a stored key whose name leaves the product's folder is refused, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbgov.adapters.ploomber.storage import check_key, download
from nbgov.core.errors import NbgovError


@pytest.fixture
def s3(tmp_path: Path, monkeypatch):
    """(S3Client whose project root is tmp_path/project, boto3 client) on moto's in-process S3."""
    import boto3
    from moto import mock_aws
    from ploomber.clients import S3Client

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        raw = boto3.client("s3", region_name="us-east-1")
        raw.create_bucket(Bucket="nbgov-test")
        (tmp_path / "project").mkdir()
        yield S3Client(bucket_name="nbgov-test", parent="p", path_to_project_root=tmp_path / "project"), raw


def test_a_key_with_dotdot_parts_is_refused_and_nothing_written(s3, tmp_path: Path):
    client, raw = s3
    raw.put_object(Bucket="nbgov-test", Key="p/products/d/ok.txt", Body=b"ok")
    raw.put_object(Bucket="nbgov-test", Key="p/products/d/../../../../escaped.txt", Body=b"evil")
    dest = tmp_path / "project/products/d"
    with pytest.raises(NbgovError, match=r"refused to download stored object 'p/products/d/\.\./"):
        download(client, dest)
    assert not list(tmp_path.rglob("escaped.txt")) and not (dest / "ok.txt").exists()


def test_a_folder_product_and_a_file_product_download(s3, tmp_path: Path):
    client, raw = s3
    raw.put_object(Bucket="nbgov-test", Key="p/products/d/sub/ok.txt", Body=b"ok")
    raw.put_object(Bucket="nbgov-test", Key="p/products/d2/other.txt", Body=b"not mine")  # shares the prefix only
    raw.put_object(Bucket="nbgov-test", Key="p/products/f.txt", Body=b"f")
    root = tmp_path / "project"
    download(client, root / "products/d")
    download(client, root / "products/f.txt")
    assert (root / "products/d/sub/ok.txt").read_text() == "ok" and (root / "products/f.txt").read_text() == "f"
    assert not (root / "products/d/other.txt").exists() and not (root / "products/d2").exists()


@pytest.mark.parametrize("key", ["p/d/..", "p/d/a/../../x", "p/d//etc/passwd", "p/d/./x"])
def test_keys_leaving_the_folder(key: str, tmp_path: Path):
    with pytest.raises(NbgovError, match="refused to download"):
        check_key(key, "p/d", tmp_path / "d")


def test_a_symlink_in_the_destination_is_refused(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d/link").symlink_to(tmp_path.parent)
    with pytest.raises(NbgovError, match="resolves outside"):
        check_key("p/d/link/x", "p/d", tmp_path / "d")
    assert check_key("p/d/sub/x", "p/d", tmp_path / "d") == tmp_path / "d/sub/x"
    assert check_key("p/dx/y", "p/d", tmp_path / "d") is None
