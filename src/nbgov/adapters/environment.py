"""Facts about where a run happens: git commit and dirty flag, Python and installed packages."""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from nbgov.core.digest import file_digest, text_digest

#: What a build itself writes into the working tree: never a reason to call the code dirty,
#: even when a project tracks it (the tracking store, products, nbgov's journal, cache,
#: lineage records and evidence copies).
OWN_OUTPUTS = (
    "mlflow.db", "mlflow.db-journal", "mlruns/**", "mlartifacts/**", "products/**",
    ".nbgov/journal/**", ".nbgov/cache/**", ".nbgov/lineage/**", ".nbgov/*.lock",
    "*.lineage.json", "*.executed.ipynb", "*.status.json",
)


def git_state(root: str | Path, outputs: tuple[str, ...] | list[str] = ()) -> dict[str, object]:
    """``{"commit": sha|None, "dirty": bool|None, "branch": name|None}`` of the repo at ``root``.

    Dirty means a tracked file differs from the commit (staged or not), outside what builds
    write (:data:`OWN_OUTPUTS`, plus ``outputs``: more globs relative to ``root``, e.g. the
    pipeline's products). Untracked files do not make a checkout dirty: they are not part of
    any commit, and a fresh clone always grows some (caches, virtualenvs, results).
    """
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "branch": None}
    excludes = [f":(exclude,glob){'**/' if not p.startswith('**/') else ''}{p}" for p in (*OWN_OUTPUTS, *outputs)]
    porcelain = git("status", "--porcelain", "--untracked-files=no", "--", ".", *excludes)
    dirty = None if porcelain is None else bool(porcelain)
    return {"commit": commit, "dirty": dirty, "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


@functools.lru_cache(maxsize=4)
def environment_fingerprint(root: str | Path) -> dict[str, str | None]:
    """Python version, a digest of installed distributions (name==version, sorted), and the
    digest of the project's environment.yml if it has one. Cached: computed once per process."""
    dists = installed_distributions()
    env_yml = Path(root) / "environment.yml"
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": f"{platform.system()}-{platform.machine()}",
        "packages_digest": text_digest("\n".join(dists)),
        "packages_count": str(len(dists)),
        "environment_yml_digest": file_digest(env_yml) if env_yml.is_file() else None,
    }


def installed_distributions() -> list[str]:
    """``name==version`` of every distribution on ``sys.path`` (names normalised, sorted), read
    from the ``*.dist-info`` / ``*.egg-info`` folder names: parsing each METADATA file, as
    ``importlib.metadata`` does for a name, took ~1-2 s of CPU in every build."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.scandir(entry or ".")
        except OSError:
            continue
        with listing:
            for item in listing:
                stem, dot, kind = item.name.rpartition(".")
                if not dot or kind not in ("dist-info", "egg-info"):
                    continue
                name, _, version = stem.partition("-")
                # the first on sys.path is the one Python imports
                found.setdefault(re.sub(r"[-_.]+", "-", name).lower(), version.split("-py")[0])
    return sorted(f"{name}=={version}" for name, version in found.items())
