"""Facts about where a run happens: git commit and dirty flag, Python and installed packages."""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from pathlib import Path

from nbgov.core.digest import file_digest, text_digest


def git_state(root: str | Path) -> dict[str, object]:
    """``{"commit": sha|None, "dirty": bool|None, "branch": name|None}`` of the repo at ``root``."""
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "branch": None}
    # a modified tracked file makes the tree dirty; untracked files (products, nbgov's journal
    # and store, scratch files) do not: they are not part of the commit the run names
    porcelain = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(porcelain), "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


@functools.lru_cache(maxsize=4)
def environment_fingerprint(root: str | Path) -> dict[str, str | None]:
    """Python version, a digest of installed distributions (name==version, sorted), and the
    digest of the project's environment.yml if it has one. Cached: computed once per process."""
    from importlib import metadata

    dists = sorted({f"{(d.metadata['Name'] or '').lower()}=={d.version}" for d in metadata.distributions()})
    env_yml = Path(root) / "environment.yml"
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": f"{platform.system()}-{platform.machine()}",
        "packages_digest": text_digest("\n".join(dists)),
        "packages_count": str(len(dists)),
        "environment_yml_digest": file_digest(env_yml) if env_yml.is_file() else None,
    }
