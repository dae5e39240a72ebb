"""One rule set for secrets: what looks secret, and how it is masked before anything leaves.

Used by ``nbgov check`` (NBG501/NBG502 report what :func:`scan` finds) and by the recorder
(parameters, lineage records, scraps and executed notebooks are passed through
:func:`redact_params`, :func:`redact_record` and
:func:`nbgov.core.redact_notebook.mask_notebook` before they reach the tracking store). Pure
functions: text and plain data in, text and copies out; no I/O, no third-party imports.

Two kinds of rules:

- **names**: a parameter (or nested key) whose name reads as a secret (``password``,
  ``db_passwd``, ``api_key``, ``authToken``, ``aws_secret_access_key``...) has its value replaced
  by :data:`REDACTED`, whatever the value is. Counters and pointers to secrets
  (``max_tokens``, ``token_count``, ``secret_name``, ``private_key_path``) are not secrets.
- **values**: text matching a secret shape (provider key prefixes, private-key blocks, AWS
  secret keys after their name or quoted on their own, ``password=...`` assignments quoted or
  not, credentials and tokens in URLs and their query, ``Bearer``/``Basic``/``Authorization``
  headers, keys in connection strings such as ``AccountKey=...;``, JWTs) has the secret part
  replaced by :data:`REDACTED`, wherever the text is, also in the *keys* of plain data.
- **notebooks** (:mod:`nbgov.core.redact_notebook`): sources, outputs (and their metadata),
  cell metadata and notebook metadata, with these rules.
- **known values** (:class:`nbgov.core.redact_known.KnownSecrets`): what a build knows to be secret (a secret-named
  parameter's value, a secret the rules found in a parameter), given to :func:`scan` and every
  function built on it (``known=``): that exact value is masked wherever it is, also where no
  rule would see it (``print(db_password)``, an error message).
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

#: What a masked secret is replaced with (the same string in params, records and notebooks).
REDACTED = "***redacted***"

#: Policies of ``[tracking] secrets`` in nbgov.toml (validated in :mod:`nbgov.core.config`):
#: mask secrets in what is uploaded, refuse the upload, or upload as is.
POLICIES = ("redact", "refuse", "allow")

# -- value rules ---------------------------------------------------------------------------------
# (kind, pattern). A pattern's group ``v`` is the secret part (what is masked); without it the
# whole match is.
_PW_NAMES = r"password|passwd|passphrase|pwd"
RULES: list[tuple[str, str]] = [
    ("private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
                    r"(?:[\s\S]{0,20000}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?"),
    ("AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    ("AWS secret access key",
     r"(?i:(?:aws_?)?secret_?access_?key|aws_?secret(?:_?key)?)[\"'\]]*\s*[:=,]\s*[\"']?"
     r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"),
    # the same 40 characters quoted on their own (a tuple of credentials, a keyword argument of
    # another name): accepted only when they look random (mixed case, a digit, high entropy)
    ("AWS secret access key (shape)", r"(?<=[\"'])(?P<v>[A-Za-z0-9/+]{40})(?=[\"'])"),
    ("GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
    ("GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("Slack webhook", r"https://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+"),
    ("Stripe key", r"\b[rs]k_live_[A-Za-z0-9]{20,}"),
    ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("API key (sk-)", r"\bsk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{32,}"),
    ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("JSON web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("password in URL",
     r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@'\"<>]{0,64}:(?P<v>[^\s@/'\"<>]{3,128})@[\w.-]+"),
    ("password in URL query", r"[?&;](?i:password|passwd|pwd|pass)=(?P<v>[^\s&#;'\"<>]{3,})"),
    ("bearer token", r"(?i:\bbearer\s+)(?P<v>[A-Za-z0-9\-._~+/]{12,}=*)"),
    ("basic auth", r"(?i:\bbasic\s+)(?P<v>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])"),
    ("authorization header",
     r"(?i:\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?!bearer\s|basic\s)(?:[a-z-]+\s+)?)"
     r"(?P<v>[^\s\"',;]{8,})"),
    ("key in connection string",
     r"(?i:\b(?:AccountKey|SharedAccessKey|SharedAccessSignature|AccessKey|ClientSecret|ApiKey)\s*=\s*)"
     r"(?P<v>[^;\s\"'&]{8,})"),
    ("token in URL",
     r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://(?:[^\s#'\"<>]*?[?&](?i:access_token|token|api_?key|apikey|"
     r"key|sig|signature|password|passwd|secret|auth|client_secret)=(?P<v>[^\s&#'\"<>]{8,})"
     r"|(?P<u>[A-Za-z0-9_-]{24,})@[\w.-]+)"),
    ("secret assigned in code",
     r"(?i:\b[a-z0-9_-]*(?P<kw>" + _PW_NAMES + r"|secret|token|api[_-]?key|apikey|access[_-]?key|"
     r"private[_-]?key|auth[_-]?key|credentials?)[\"']?\s*[:=]\s*[rbu]?[\"'](?P<v>[^\"'\s]{6,})[\"'])"),
    ("password assigned",
     r"(?i:(?<![\w-])[a-z0-9_-]*(?:" + _PW_NAMES + r")[\"']?\s*[:=]\s*)(?![\"'\s])(?P<v>[^\s\"',;)}\]]{4,})"),
]  # fmt: skip


@functools.cache
def _compiled() -> tuple[re.Pattern, list[tuple[str, re.Pattern]]]:
    """(one pattern for any rule, each rule's own): compiled at the first text that may hold a
    secret, not at import (~20 ms, which every nbgov command paid through core.errors)."""
    scan = re.compile("|".join(f"(?P<g{i}>{re.sub(r'[(][?]P<(v|u|kw)>', '(', p)})" for i, (_, p) in enumerate(RULES)))
    return scan, [(kind, re.compile(pattern)) for kind, pattern in RULES]


#: A cheap test before the regexes: every value rule holds one of these (lower-cased).
HINTS = (
    "-----begin", "akia", "asia", "abia", "acca", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "glpat-", "xox", "hooks.slack", "k_live_", "aiza", "sk-", "hf_", "eyj", "://",
    "passw", "passphrase", "pwd", "secret", "token", "key", "credential", "bearer", "basic",
    "authoriz", "pass=", "aws",
)  # fmt: skip
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\*+|x+|\.+|<.*>|\{.*\}|\$.*|%.*|none|null|true|false|.*(?:changeme|change_me|example|"
    r"placeholder|your[_-]|dummy|redacted|xxxx|\*\*\*|getenv|environ).*)$"
)
# in code, ``password = get_password()``, ``AccountKey=account_key``, ``pwd = DB_PASSWORD`` or
# ``token = cfg.token`` name a value, they do not hold one; a bare name with digits or mixed case
# (``A0000000``, ``hUnTeR``) reads as a credential
_CODE_CALL = re.compile(r"[A-Za-z_][\w.]*(?:\(.*|\[.*)")
_CODE_ATTRIBUTE = re.compile(r"[A-Za-z_]+(?:\.[A-Za-z_]+)+")
_CODE_NAME = re.compile(r"[a-z_]+|[A-Z_]+")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

#: kinds whose first characters are a public marker (AKIA, ghp_...), safe to show in reports
PREFIXED = {"AWS access key id", "GitHub token", "GitLab token", "Slack token", "Stripe key",
            "Google API key", "API key (sk-)", "Hugging Face token", "JSON web token"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One secret in a text: the span of the secret part, its kind and its value."""

    start: int
    end: int
    kind: str
    value: str

    def shown(self) -> str:
        """A form safe to print: the public prefix (if any) and the length, never the secret."""
        if self.kind == "private key":
            return "block"
        shown = self.value[:4] if self.kind in PREFIXED else ""
        return f"{shown}***({len(self.value)} chars)"


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def _is_code_name(value: str) -> bool:
    """Whether a value after ``=`` in code is a call, an attribute or a plain name."""
    return bool(_CODE_CALL.fullmatch(value) or _CODE_ATTRIBUTE.fullmatch(value) or _CODE_NAME.fullmatch(value))


def _looks_random(value: str, long: int, bits: float = 3.5, mixed: bool = False) -> bool:
    """A token rather than a word: letters and digits mixed, or long and high in entropy
    (``Bearer authentication`` is prose; ``Bearer 4f9a...`` is a credential)."""
    letters, digits = any(c.isalpha() for c in value), any(c.isdigit() for c in value)
    if mixed:
        cased = any(c.isupper() for c in value) and any(c.islower() for c in value)
        return cased and digits and entropy(value) >= bits
    return (letters and digits) or (len(value) >= long and entropy(value) >= bits)


def _is_basic_credentials(value: str) -> bool:
    """Whether ``value`` is base64 of ``user:password`` (what HTTP basic auth sends)."""
    import base64
    import binascii

    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return ":" in decoded and decoded.isprintable()


def may_hold_secrets(text: str) -> bool:
    """False when no value rule can match anywhere in ``text`` (cheap)."""
    low = text.lower()
    return any(h in low for h in HINTS)


def _line_is_code(text: str, at: int) -> bool:
    start = text.rfind("\n", 0, at) + 1
    # shell escapes and magics in a code cell are command lines, not Python
    return not text[start:at].lstrip().startswith(("!", "%"))


def _accept(kind: str, m: re.Match, text: str, code: bool) -> Finding | None:
    group = "v" if m.groupdict().get("v") is not None else "u" if m.groupdict().get("u") else None
    value = m.group(group) if group else m.group(0)
    start, end = (m.start(group), m.end(group)) if group else (m.start(), m.end())
    if kind in ("password in URL", "token in URL", "password assigned", "secret assigned in code"):
        if _PLACEHOLDER.match(value):
            return None
    if kind == "token in URL" and group == "u" and entropy(value) < 3.5:
        return None
    if kind in ("password in URL query", "authorization header", "key in connection string") and (
            _PLACEHOLDER.match(value) or (code and _line_is_code(text, m.start()) and _is_code_name(value))):
        return None
    if kind == "bearer token" and not _looks_random(value, 20):
        return None
    if kind == "basic auth" and not _is_basic_credentials(value):
        return None
    if kind == "AWS secret access key (shape)" and not _looks_random(value, 40, 4.0, mixed=True):
        return None
    if kind == "secret assigned in code":
        is_password = m.group("kw").lower().startswith("pass")
        if not is_password and (len(value) < 12 or entropy(value) < 3.0):
            return None
    if kind == "password assigned" and code and _line_is_code(text, m.start()) and _is_code_name(value):
        return None
    return Finding(start, end, kind, value)


class KnownValues(Protocol):
    """What :func:`scan` needs of a build's known secrets
    (:class:`nbgov.core.redact_known.KnownSecrets`, which feeds this scanner)."""

    def __bool__(self) -> bool: ...

    def find(self, text: str) -> Iterator[Finding]:
        """Every occurrence of a known value in ``text``."""
        ...


def scan(text: str, *, code: bool = False, known: KnownValues | None = None) -> Iterator[Finding]:
    """Every secret in ``text``, in order, not overlapping.

    Args:
        text: any text (a cell source, an output, a traceback, a parameter value).
        code: the text is Python source: ``password = some_call()`` is then an expression, not
            a secret (quoted literals still are).
        known: values this build knows to be secret
            (:class:`nbgov.core.redact_known.KnownSecrets`): found wherever they are, as well as
            what the rules find.
    """
    if not text:
        return
    selected: list[Finding] = []
    if may_hold_secrets(text) and (rules := _compiled())[0].search(text):
        found: list[Finding] = []
        for kind, pattern in rules[1]:
            for m in pattern.finditer(text):
                hit = _accept(kind, m, text, code)
                if hit is not None:
                    found.append(hit)
        found.sort(key=lambda f: (f.start, -(f.end - f.start)))
        end = -1
        for hit in found:
            if hit.start >= end:
                selected.append(hit)
                end = hit.end
    if known:
        selected = _merged(text, selected, list(known.find(text)))
    yield from selected


def _merged(text: str, hits: list[Finding], known: list[Finding]) -> list[Finding]:
    """The rules' findings and a build's known secrets as one list of disjoint spans: spans that
    overlap become one (a known value never stays half visible next to a rule's match)."""
    if not known:
        return hits
    out: list[Finding] = []
    for hit in sorted([*hits, *known], key=lambda f: (f.start, -(f.end - f.start))):
        if out and hit.start < out[-1].end:
            last = out[-1]
            if hit.end > last.end:
                out[-1] = Finding(last.start, hit.end, last.kind, text[last.start:hit.end])
            continue
        out.append(hit)
    return out


def line_of(text: str, finding: Finding) -> int:
    """The 1-based line of a finding."""
    return text.count("\n", 0, finding.start) + 1


def mask_text(text: str, *, code: bool = False, known: KnownValues | None = None) -> tuple[str, int]:
    """``text`` with every secret (and every value of ``known``) replaced by :data:`REDACTED`,
    and how many were."""
    hits = list(scan(text, code=code, known=known))
    if not hits:
        return text, 0
    parts, last = [], 0
    for hit in hits:
        parts += [text[last:hit.start], REDACTED]
        last = hit.end
    parts.append(text[last:])
    return "".join(parts), len(hits)


# -- name rules ----------------------------------------------------------------------------------
_SECRET_WORDS = {"password", "passwd", "passphrase", "pwd", "secret", "secrets", "token", "apikey",
                 "credential", "credentials", "privatekey", "secretkey", "accesskey", "authkey",
                 "sessionkey", "signingkey", "clientsecret", "dsn", "authorization", "bearer", "jwt",
                 "cookie"}  # fmt: skip
#: words that name a secret only as a name's last word (``db_pass``, ``smtp_pw``; not ``pass_rate``)
_SECRET_LAST = {"pass", "pw"}
_PAIRS = {("api", "key"), ("private", "key"), ("secret", "key"), ("access", "key"), ("auth", "key"),
          ("signing", "key"), ("session", "key"), ("client", "secret"), ("auth", "token"),
          ("access", "token"), ("refresh", "token"), ("bearer", "token"), ("encryption", "key"),
          ("account", "key"), ("master", "key"), ("license", "key"), ("storage", "key")}  # fmt: skip
# a name ending in one of these names a property of a secret, not the secret
_NOT_SECRET_TAIL = {"count", "counts", "len", "length", "size", "limit", "num", "number", "type",
                    "kind", "name", "names", "path", "file", "env", "var", "ttl", "expiry",
                    "expires", "url", "uri", "id", "policy", "min", "max"}  # fmt: skip


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_name(name: str) -> bool:
    """Whether a parameter/key name reads as a secret (``password``, ``db_passwd``, ``apiKey``,
    ``aws_secret_access_key``); ``max_tokens``, ``token_count``, ``secret_name`` do not."""
    words = _words(str(name))
    if not words or words[-1] in _NOT_SECRET_TAIL:
        return False
    if any(w in _SECRET_WORDS for w in words) or words[-1] in _SECRET_LAST:
        return True
    return any(pair in _PAIRS for pair in zip(words, words[1:], strict=False))


# -- plain data ----------------------------------------------------------------------------------
#: ipywidgets models whose ``value`` is a secret whatever it looks like (saved widget state).
_SECRET_WIDGETS = ("PasswordModel",)


#: What a secret inside a mapping *key* becomes: a name every store accepts (MLflow refuses
#: ``*`` in a parameter name, and a refused run would stay in the journal).
REDACTED_NAME = "redacted"


def _mask_key(key: Any, taken: dict, known: KnownValues | None = None) -> tuple[Any, int]:
    """A mapping key with secrets masked (a token used as a name is still a token); a masked
    key that collides with another gets a number."""
    if not isinstance(key, str):
        return key, 0
    masked, n = mask_text(key, known=known)
    if n:
        masked = masked.replace(REDACTED, REDACTED_NAME)
        base, i = masked, 2
        while masked in taken:
            masked, i = f"{base}_{i}", i + 1
    return masked, n


def mask_value(value: Any, names: bool, known: KnownValues | None = None) -> tuple[Any, int]:
    """A copy of plain data with secret values masked (and, with ``names``, every value under a
    secret-looking key; with ``known``, a build's known secrets in every string but under
    :data:`IDENTIFIER_KEYS`), and how many were."""
    if isinstance(value, str):
        return mask_text(value, known=known)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        total = 0
        password_widget = value.get("_model_name") in _SECRET_WIDGETS
        for key, item in value.items():
            new_key, n_key = _mask_key(key, out, known)
            if (names and is_secret_name(str(key)) or password_widget and key == "value") and \
                    item not in (None, "", REDACTED):
                out[new_key], n = REDACTED, 1
            else:
                out[new_key], n = mask_value(item, names, None if key in IDENTIFIER_KEYS else known)
            total += n + n_key
        return out, total
    if isinstance(value, (list, tuple)):
        items = [mask_value(v, names, known) for v in value]
        return type(value)(v for v, _ in items), sum(n for _, n in items)
    return value, 0


def redact_params(params: dict[str, Any], known: KnownValues | None = None) -> dict[str, Any]:
    """A copy of ``params`` (also scraps: name -> value) where the value of every secret-named
    key, at any depth, is :data:`REDACTED`, and secrets in other string values are masked
    (``known``: a build's known secrets too). Types of other values are kept."""
    return mask_value(dict(params), names=True, known=known)[0]


def count_params(params: dict[str, Any]) -> int:
    """How many values :func:`redact_params` would mask."""
    return mask_value(dict(params), names=True)[1]


def redact_record(record: dict[str, Any], known: KnownValues | None = None) -> dict[str, Any]:
    """A copy of a lineage record (``LineageRecord.to_dict()``) safe to store anywhere: its
    ``params`` (and ``scraps``, if any) through :func:`redact_params`, secrets masked in every
    other string at any depth (an error message, a client URI), and ``known``'s values in every
    string but identifiers (:data:`IDENTIFIER_KEYS`). Digests and ids never match the rules."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in ("params", "scraps") and isinstance(value, dict):
            out[key] = redact_params(value, known)
        else:
            out[key] = mask_value(value, names=False, known=None if key in IDENTIFIER_KEYS else known)[0]
    return out


# -- known secrets -------------------------------------------------------------------------------
#: Keys of nbgov's records and journal events whose values are identifiers nbgov reads back
#: (digests, run ids and keys, paths): a build's known secrets are not searched in them (a short
#: secret inside a hex digest or a file name would break the lineage; no value is printed there).
IDENTIFIER_KEYS = frozenset({"digest", "run_id", "run_key", "parent_run_id", "key", "parent_key",
                             "build_id", "commit", "path", "record_path", "version", "seq"})
def safe_uri(uri: str) -> str:
    """A tracking URI without user:password and with its secret query values masked
    (``?access_token=...``), fit for a tag, a reply or a log line."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        uri = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return without_url_secrets(uri)


#: A URL in free text, and the ``scheme://user:password@`` part no message may print.
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_URL_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@:]*:[^/\s@]*@")


def without_url_secrets(text: str) -> str:
    """``text`` with every URL's ``user:password@`` left out and the secrets in its query
    (``?access_token=...``, ``&sig=...``: the value rules, :func:`mask_text`) masked: the one
    rule every error, reply and log line that names a URL goes through."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: mask_text(_URL_USERINFO.sub(r"\1", m.group(0)))[0], text)
