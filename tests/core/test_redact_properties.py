"""The one redaction scanner (nbgov.core.redact) under hypothesis: a generated secret of every
family the scanner knows, embedded in generated text, JSON, parameters (as a value or as a
*name*) and notebooks (sources, outputs, cell and notebook metadata), never survives; ordinary
identifiers and numbers are never touched.

Bounded for the normal suite; NBGOV_HYPOTHESIS_EXAMPLES=2000 runs it long."""

from __future__ import annotations

import base64
import json
import os

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nbgov.core.redact import is_secret_name, mask_text, redact_params, redact_record
from nbgov.core.redact_notebook import mask_json_text, mask_notebook

EXAMPLES = int(os.environ.get("NBGOV_HYPOTHESIS_EXAMPLES", "40"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_PLACEHOLDER_WORDS = ("xxxx", "example", "dummy", "changeme", "placeholder", "redacted", "your")


def _random(alphabet: str, n: int, m: int) -> st.SearchStrategy[str]:
    """Credential-like text: from ``alphabet``, with a letter and a digit in it, no placeholder word."""
    return st.text(alphabet, min_size=n, max_size=m).filter(
        lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s)
        and not any(w in s.lower() for w in _PLACEHOLDER_WORDS))


def _aws_secret() -> st.SearchStrategy[str]:
    return st.text(ALNUM + "/+", min_size=40, max_size=40).filter(
        lambda s: any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s)
        and len(set(s)) > 20)


@st.composite
def secrets(draw) -> tuple[str, str]:
    """``(text holding a secret, the secret part that must disappear)``."""
    kind = draw(st.sampled_from(["bearer", "basic", "url", "query", "azure", "aws-named", "aws-quoted",
                                 "github", "password", "authorization"]))
    token = draw(_random(ALNUM + "-._", 20, 40))
    password = draw(_random(ALNUM, 8, 24))
    if kind == "bearer":
        return f"Bearer {token}", token
    if kind == "basic":
        user = draw(_random(ALNUM, 3, 12))
        value = base64.b64encode(f"{user}:{password}".encode()).decode()
        return f"Basic {value}", value
    if kind == "url":
        scheme = draw(st.sampled_from(["postgresql", "mysql", "mongodb+srv", "redis", "amqp", "https"]))
        return f"{scheme}://ada:{password}@db.internal:5432/prod", password
    if kind == "query":
        return f"https://api.internal/v1?user=ada&password={password}", password
    if kind == "azure":
        key = base64.b64encode(password.encode() * 3).decode()
        return f"DefaultEndpointsProtocol=https;AccountName=ada;AccountKey={key};EndpointSuffix=core", key
    if kind in ("aws-named", "aws-quoted"):
        secret = draw(_aws_secret())
        if kind == "aws-named":
            return f'aws_secret_access_key = "{secret}"', secret
        return f'creds = ("AKIAQ3XAMPLKEYID1234", "{secret}")', secret
    if kind == "github":
        value = "ghp_" + draw(st.text(ALNUM, min_size=36, max_size=36))
        return value, value
    if kind == "authorization":
        return f"Authorization: Token {token}", token
    return f"password={password}", password


SEPARATORS = st.sampled_from([" ", "\n", "\t", ", ", "; ", " | "])
WORDS = st.lists(st.sampled_from(["the", "run", "model", "f1", "0.93", "train", "rows:", "42", "ok"]),
                 max_size=4).map(" ".join)


@st.composite
def embedded(draw) -> tuple[str, str]:
    text, secret = draw(secrets())
    return draw(WORDS) + draw(SEPARATORS) + text + draw(SEPARATORS) + draw(WORDS), secret


# ordinary identifiers: lower-case names that do not read as secrets, and numbers
IDENTIFIERS = st.from_regex(r"[a-z_][a-z0-9_]{0,23}", fullmatch=True).filter(
    lambda s: not is_secret_name(s) and not any(w in s for w in ("pass", "pwd", "key", "secret", "token")))
NUMBERS = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False))


@PROFILE
@given(embedded())
def test_a_secret_in_text_is_always_masked(case):
    text, secret = case
    assert secret not in mask_text(text)[0]
    assert secret not in mask_text(text, code=True)[0]


@PROFILE
@given(embedded(), IDENTIFIERS)
def test_a_secret_in_parameters_and_records_is_masked_as_value_or_as_name(case, name):
    text, secret = case
    params = {name: text, "nested": {"list": [1, text]}}
    assert secret not in json.dumps(redact_params(params))
    assert secret not in json.dumps(redact_record({"params": params, "error": text, "tags": {"x": text}}))
    if secret == text.strip().split()[-1] and secret.startswith("ghp_"):  # a token used as a name
        assert secret not in json.dumps(redact_params({secret: 1}))


@PROFILE
@given(embedded(), st.sampled_from(["source", "stream", "data", "cell-meta", "nb-meta", "widget"]))
def test_a_secret_anywhere_in_a_notebook_is_masked(case, where):
    text, secret = case
    cell = {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": 1}
    nb = {"cells": [cell], "metadata": {"kernelspec": {"language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    if where == "source":
        cell["source"] = text
    elif where == "stream":
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": text.splitlines(keepends=True)}]
    elif where == "data":
        cell["outputs"] = [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                            "data": {"text/plain": text, "application/json": {"v": text}}}]
    elif where == "cell-meta":
        cell["metadata"] = {"custom": {"note": text}}
    elif where == "nb-meta":
        nb["metadata"]["service"] = {"connection": text}
    else:
        nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"m": {
            "state": {"_model_name": "PasswordModel", "value": secret}}}}}
    masked, count = mask_notebook(nb)
    assert count >= 1 and secret not in json.dumps(masked)
    assert secret not in mask_json_text(json.dumps(nb))[0]


@PROFILE
@given(st.lists(st.tuples(IDENTIFIERS, NUMBERS), min_size=1, max_size=6), SEPARATORS)
def test_ordinary_names_and_numbers_are_untouched(pairs, sep):
    params = dict(pairs)
    assume(params)
    assert redact_params(params) == params
    text = sep.join(f"{name} = {value!r}" for name, value in pairs)
    assert mask_text(text) == (text, 0)
    assert mask_text(text, code=True) == (text, 0)
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": text,
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}],
          "metadata": {"custom": params}}
    assert mask_notebook(nb) == (nb, 0)
