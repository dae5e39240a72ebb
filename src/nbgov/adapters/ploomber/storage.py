"""Products in object storage (Ploomber's ``File`` client): downloads whose destination is
checked, key by key.

Ploomber's clients download a product stored as a folder by listing every object under its
key and writing each to ``Path(destination, *relative_parts)``: a key with ``..`` parts (or a
symlink in the destination) would write anywhere on the machine, on the driver before the
gate. :func:`download` lists the keys itself and refuses the product (one error naming the key)
when one of them would leave the destination.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

from nbgov.core.digest import file_digest
from nbgov.core.errors import NbgovError


def check_key(key: str, prefix: str, dest: Path) -> Path | None:
    """Where object ``key`` (listed under ``prefix``) goes in folder ``dest``; None: another
    object that merely shares the prefix (``products/x2`` listed for ``products/x``). Refuses
    a key that would be written outside ``dest``."""
    if key == prefix:
        return dest
    if not key.startswith(prefix.rstrip("/") + "/"):
        return None
    rel = key[len(prefix.rstrip("/")) + 1:]
    parts = PurePosixPath(rel).parts
    if not rel or rel.startswith("/") or "\\" in rel or any(p in ("..", ".", "") for p in rel.split("/")) \
            or PurePosixPath(rel).is_absolute():
        raise NbgovError(f"refused to download stored object {key!r}: its name leaves the product's folder "
                         f"{dest}", hint="remove the object from the bucket (someone wrote a key with '..' parts)")
    target = Path(dest, *parts)
    if not os.path.realpath(target).startswith(os.path.realpath(dest) + os.sep):
        raise NbgovError(f"refused to download stored object {key!r}: {target} resolves outside the product's "
                         f"folder {dest} (a symlink?)", hint="remove the symlink or the object")
    return target


def _listed(client: Any, prefix: str) -> list[str] | None:
    """The keys under ``prefix`` for the clients nbgov knows to list (None: another client)."""
    inner = getattr(client, "_client", None)
    if inner is not None and hasattr(inner, "get_paginator") and hasattr(client, "_bucket_name"):  # S3Client
        keys = []
        for page in inner.get_paginator("list_objects_v2").paginate(Bucket=client._bucket_name, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys
    bucket = getattr(client, "_bucket", None)
    if bucket is not None and hasattr(bucket, "client"):  # GCloudStorageClient
        return [b.name for b in bucket.client.list_blobs(client._bucket_name, prefix=prefix)]
    return None


def download(client: Any, local: str | Path) -> None:
    """Download ``local`` (a file or folder product, or its metadata) from ``client``, every
    key checked to land inside ``local`` (see the module docstring)."""
    local = Path(local)
    remote = client._remote_path(str(local))
    keys = _listed(client, remote)
    if keys is None or remote in keys:  # another client (a local folder copy), or a single object
        client.download(str(local))
        return
    if not keys:
        client.download(str(local))  # the client's own "no such file" error
        return
    targets = [(key, check_key(key, remote, local)) for key in keys]  # all checked before any write
    for key, target in targets:
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            client._download(str(target), key)


def fetch_from_storage(dag: Any, names: list[str], quiet: Any) -> list[str]:
    """Download the products of tasks ``names`` that are missing here but stored by the
    ``File`` client (a worker without the shared file system); returns the tasks fetched."""
    from ploomber.products import File

    client = dag.clients.get(File)
    if client is None:
        return []
    fetched = []
    for name in names:
        files = product_files(dag[name].product)
        missing = [f for f in files if isinstance(f, File) and not f.exists()]
        # a task's products are uploaded together: fetch only when every missing one is stored
        if missing and all(f._remote.exists() for f in missing):
            with quiet():
                for f in missing:
                    download_file(f)
            fetched.append(name)
    return fetched


def download_products(dag: Any, name: str, quiet: Any) -> None:
    """Replace task ``name``'s local ``File`` products with the stored ones."""
    from ploomber.products import File

    with quiet():
        for f in product_files(dag[name].product):
            if isinstance(f, File):
                download_file(f)


def product_digests(dag: Any, root: Path, name: str) -> dict[str, str]:
    """Task ``name``'s existing ``File`` products: path relative to ``root`` -> digest (what a
    worker made, what the driver downloaded: compared, see engines.warm)."""
    from ploomber.products import File

    out = {}
    for f in product_files(dag[name].product):
        path = Path(str(f._path_to_file)) if isinstance(f, File) else None
        if path is not None and path.exists():
            absolute = path if path.is_absolute() else root / path
            with contextlib.suppress(ValueError):
                out[absolute.resolve().relative_to(root.resolve()).as_posix()] = file_digest(absolute)
    return out


def fence_upload(product: Any, fence: Any) -> None:
    """Make ``product``'s upload (Ploomber's, when its task ends) call ``fence()`` first: it
    raises when the build that submitted the task is gone (an orphaned task must not overwrite
    a newer build's products). The product object is this load's: the next task reloads it."""
    if fence is None or getattr(product, "_nbgov_fenced", False):
        return
    upload = product.upload

    def fenced() -> None:
        fence()
        upload()

    product.upload = fenced
    product._nbgov_fenced = True


def download_file(product: Any) -> None:
    """One ``File`` product and its metadata, checked (Ploomber's ``File.download``, safe)."""
    product._path_to_file.parent.mkdir(parents=True, exist_ok=True)
    if product.client:
        download(product.client, product._path_to_file)
        download(product.client, product._path_to_metadata)


def product_files(product: Any) -> list[Any]:
    """A task's products, one or several."""
    return list(product) if hasattr(product, "products") else [product]
