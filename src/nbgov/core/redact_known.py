"""A build's known secrets: the values it knows to be secret, fed to the one scanner
(:func:`nbgov.core.redact.scan`, ``known=``), which then masks them wherever they are.

A value is known when it is a secret-named parameter's value (at any depth) or a secret the
value rules find in a parameter. It is then found as written and in the forms Python, JSON, HTML
(a converted report) and URLs print it. Pure: no I/O, no third-party imports.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from nbgov.core.redact import REDACTED, Finding, is_secret_name, mask_text, scan

#: Shorter known values are masked by their name only (params, the injected cell, papermill's
#: metadata), never searched for in free text: every ``1234`` of a notebook would go.
MIN_KNOWN_LENGTH = 6


class KnownSecrets:
    """The values one build knows to be secret: the value of every secret-named parameter (at
    any depth) and every secret the value rules find in a parameter. Fed to :func:`scan`
    (``known=``), which then finds them anywhere, as written and in the forms Python and JSON
    print them (``repr``, escapes, URL quoting, the ``repr`` of its UTF-8 bytes), whatever surrounds them.

    Example::

        known = KnownSecrets()
        known.add_params({"db_password": "Hunter2-xyz"})
        mask_text("login refused for 'Hunter2-xyz'", known=known)[0]
        # "login refused for '***redacted***'"
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __bool__(self) -> bool:
        return bool(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: Any) -> None:
        """One secret value (a string or a number; a list or dict: each of its leaves)."""
        if isinstance(value, dict):
            for item in value.values():
                self.add(item)
            return
        if isinstance(value, (list, tuple)):
            for item in value:
                self.add(item)
            return
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return
        text = str(value)
        for form in _forms(text):
            if len(form) >= MIN_KNOWN_LENGTH and REDACTED not in form and form.strip():
                if form not in self._values:
                    self._values.add(form)
                    self._pattern = None

    def add_params(self, params: dict[str, Any]) -> None:
        """Every secret in a task's parameters: values under secret names, at any depth, and
        what the value rules find in other strings."""
        for key, value in (params or {}).items():
            if is_secret_name(str(key)) and value not in (None, "", REDACTED):
                self.add(value)
            elif isinstance(value, dict):
                self.add_params(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, dict):
                        self.add_params(item)
                    else:
                        self._add_found(item)
            else:
                self._add_found(value)
            self._add_found(key)  # a token used as a name

    def _add_found(self, value: Any) -> None:
        if isinstance(value, str):
            for hit in scan(value):
                self.add(hit.value)

    def find(self, text: str) -> Iterator[Finding]:
        """Every occurrence of a known value in ``text`` (longest first where they overlap)."""
        if not self._values:
            return
        if self._pattern is None:
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        for m in self._pattern.finditer(text):
            yield Finding(m.start(), m.end(), "known secret", m.group(0))

    def bytes_pattern(self) -> tuple[re.Pattern[bytes] | None, int]:
        """These values' UTF-8 bytes as one pattern (None: no value), and the longest one's
        length: to search a file of any kind (a product) in chunks overlapping by that much."""
        if not self._values:
            return None, 0
        encoded = sorted({v.encode("utf-8", "surrogatepass") for v in self._values}, key=len, reverse=True)
        return re.compile(b"|".join(re.escape(v) for v in encoded)), len(encoded[0])

    def mask(self, text: str) -> str:
        """``text`` with these values (and whatever the rules find) masked."""
        return mask_text(text, known=self)[0] if text else text


def _forms(value: str) -> set[str]:
    """A value as written and as Python (``repr``, ``ascii``, the ``repr`` of its UTF-8 bytes),
    JSON, HTML (a converted report) and URLs print it. Encodings (base64, hex, compression) are
    not forms: a secret a task encodes itself is not found."""
    forms = {value, value.strip(), repr(value)[1:-1], ascii(value)[1:-1], json.dumps(value)[1:-1],
             json.dumps(value, ensure_ascii=False)[1:-1], quote(value, safe=""), html.escape(value),
             html.escape(value, quote=False)}
    with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate has no bytes
        forms.add(repr(value.encode("utf-8"))[2:-1])  # b'p\xc3\xa4...' in a traceback
    forms |= {json.dumps(f)[1:-1] for f in list(forms)}  # an escaped form inside a JSON string
    return forms
