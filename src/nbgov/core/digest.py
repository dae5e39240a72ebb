"""Content digests of files and folders (``sha256:<hex>``), with a stat-keyed memo so a large
unchanged product is hashed once per process."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20
_memo: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's sorted (relative path, file digest) pairs."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for sub in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(sub.relative_to(path).as_posix().encode())
            h.update(b"\0")
            h.update(file_digest(sub).encode())
            h.update(b"\n")
        return f"sha256:{h.hexdigest()}"
    st = os.stat(path)
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    cached = _memo.get(key)
    if cached:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    digest = f"sha256:{h.hexdigest()}"
    _memo[key] = digest
    return digest


def text_digest(text: str) -> str:
    """SHA-256 of a UTF-8 string."""
    return f"sha256:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"
