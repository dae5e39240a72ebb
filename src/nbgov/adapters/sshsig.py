"""SSH signatures through OpenSSH's ``ssh-keygen -Y`` (the format git uses for signed commits).

- :func:`sign`: ``ssh-keygen -Y sign -n NAMESPACE -f KEY`` (``-U`` with a ``.pub``: the key
  is in ssh-agent), the payload on stdin, the armoured signature on stdout.
- :func:`verify`: the signature's state against an allowed-signers file (git's format,
  ``principal [namespaces="..."] key-type base64``): ``valid`` (and who), ``invalid`` (it does
  not verify: altered content, or a signature for another namespace), ``unknown key`` (a good
  signature by a key that is not allowed), ``unsigned``.

A valid verdict names *every* principal the signer goes by: each principal (a line may list
several, comma-separated) of every allowed-signers line holding the signature's key, not only
the one ``ssh-keygen -Y find-principals`` prints first, so the four-eyes rule compares them all.

Results are cached per (signature, payload, allowed-signers content): ``ssh-keygen`` costs a
few milliseconds per call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbgov.core.errors import ConfigError, Location, ReviewError
from nbgov.core.four_eyes import principal_names

#: The namespace review signatures are made in (a commit signature cannot pass as one).
NAMESPACE = "nbgov-review"

VALID, INVALID, UNKNOWN_KEY, UNSIGNED = "valid", "invalid", "unknown key", "unsigned"
STATES = (VALID, INVALID, UNKNOWN_KEY, UNSIGNED)

_TIMEOUT = 30


@dataclass(frozen=True)
class Verdict:
    """A signature's state and, when valid, the principal(s) of the allowed signer."""

    state: str
    principals: tuple[str, ...] = ()
    #: why an ``invalid`` verdict is invalid, when the caller knows better than "altered"
    reason: str = ""

    @property
    def principal(self) -> str | None:
        """The first matching principal (None unless valid)."""
        return self.principals[0] if self.principals else None


def _keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ConfigError("ssh-keygen is not installed: review signatures need OpenSSH 8.2 or later",
                          hint="install it (Debian: apt-get install openssh-client)")
    return found


def _run(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([_keygen(), *args], input=data, capture_output=True, timeout=_TIMEOUT,
                          check=False)


def sign(payload: bytes, key: Path) -> str:
    """An armoured SSH signature of ``payload`` with ``key`` (a private key file, or a ``.pub``
    whose private half is in ssh-agent).

    Raises:
        ReviewError: the key is missing or ssh-keygen refuses (wrong passphrase, no agent...).
    """
    if not key.is_file():
        raise ReviewError("signing key not found", Location(key),
                          hint="give --sign-key PATH or set [review] signing_key")
    args = ["-Y", "sign", "-n", NAMESPACE, "-f", str(key)]
    if key.suffix == ".pub":
        args.insert(2, "-U")  # the private key is in ssh-agent
    result = _run([*args, "-q"], payload)
    text = result.stdout.decode("ascii", errors="replace")
    if result.returncode != 0 or "BEGIN SSH SIGNATURE" not in text:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        raise ReviewError(f"could not sign with {key.name}: {reason[-1] if reason else 'ssh-keygen failed'}",
                          Location(key), hint="check the key, its passphrase, or ssh-agent (ssh-add -l)")
    return text.strip() + "\n"


_CACHE: dict[str, Verdict] = {}


def verify(payload: bytes, signature: str | None, allowed_signers: Path | bytes | None) -> Verdict:
    """The state of ``signature`` over ``payload`` against the allowed signers: a file, or its
    content (e.g. read from git at the trust base)."""
    if not signature:
        return Verdict(UNSIGNED)
    if isinstance(allowed_signers, bytes):
        allowed = allowed_signers
    else:
        allowed = allowed_signers.read_bytes() if allowed_signers and allowed_signers.is_file() else b""
    key = hashlib.sha256(b"\0".join([payload, signature.encode(), allowed])).hexdigest()
    if key not in _CACHE:
        _CACHE[key] = _verify(payload, signature, allowed)
    return _CACHE[key]


def _verify(payload: bytes, signature: str, allowed: bytes) -> Verdict:
    with tempfile.TemporaryDirectory(prefix="nbgov-sig-") as tmp:
        sig_file, allowed_file = Path(tmp, "record.sig"), Path(tmp, "allowed_signers")
        sig_file.write_text(signature)
        allowed_file.write_bytes(allowed)
        principals: list[str] = []
        if allowed:
            found = _run(["-Y", "find-principals", "-s", str(sig_file), "-f", str(allowed_file)], b"")
            if found.returncode == 0:
                principals = [p for p in found.stdout.decode(errors="replace").split() if p]
        principals = [name for field in principals for name in principal_names(field)]
        for principal in principals:
            checked = _run(["-Y", "verify", "-f", str(allowed_file), "-I", principal, "-n", NAMESPACE,
                            "-s", str(sig_file)], payload)
            if checked.returncode == 0:
                every = dict.fromkeys([*principals, *key_principals(allowed, signature)])
                return Verdict(VALID, tuple(every))
        if principals:
            return Verdict(INVALID)
        # no allowed signer holds the key: a good signature by a stranger, or no good signature
        alone = _run(["-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(sig_file)], payload)
        return Verdict(UNKNOWN_KEY if alone.returncode == 0 else INVALID)


def signature_key(signature: str) -> str | None:
    """The signer's public key in an armoured SSH signature, base64 as in an allowed-signers
    line (None when the armour does not parse). The format (OpenSSH PROTOCOL.sshsig):
    ``"SSHSIG"``, uint32 version, then the public key as an SSH string."""
    body = "".join(line.strip() for line in signature.strip().splitlines()
                   if line.strip() and not line.startswith("-----"))
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None
    if blob[:6] != b"SSHSIG" or len(blob) < 14:
        return None
    size = int.from_bytes(blob[10:14], "big")
    key = blob[14 : 14 + size]
    return base64.b64encode(key).decode("ascii") if len(key) == size else None


def key_principals(allowed: bytes, signature: str) -> list[str]:
    """Every principal of every allowed-signers line that holds the signature's key."""
    key = signature_key(signature)
    if key is None:
        return []
    out: list[str] = []
    for line in allowed.decode("utf-8", errors="replace").splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#") or key not in fields[1:]:
            continue
        out += principal_names(fields[0])
    return out
