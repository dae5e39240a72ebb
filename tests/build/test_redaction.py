"""What a build sends to MLflow as parameters: every value as a string, and the value of a
secret-looking parameter name never (``nbgov.services.recording.tracking.redact_params``)."""

from __future__ import annotations

import pytest

from nbgov.core.redact import REDACTED
from nbgov.services.recording.tracking import redact_params


@pytest.mark.parametrize("name", [
    "password", "db_password", "PASSWD", "secret", "client_secret", "api_token", "TOKEN",
    "api_key", "api-key", "apikey", "API_KEY", "credential", "gcp_credentials", "private_key",
    "private-key", "privatekey", "ssh_PRIVATE_KEY",
])
def test_secret_looking_names_are_redacted(name):
    """By the words of the name, any case (nbgov.core.redact: the one rule set of params,
    lineage records, scraps and notebooks)."""
    out = redact_params({name: "s3cr3t-value", "x": 1})
    assert out == {name: REDACTED, "x": "1"}
    assert REDACTED == "***redacted***"


@pytest.mark.parametrize("value", ["s3cr3t", 12345, {"nested": "s3cr3t"}, ["s3cr3t"]])
def test_a_secret_of_any_type_is_redacted(value):
    assert redact_params({"token": value}) == {"token": REDACTED}


@pytest.mark.parametrize("name", ["x", "C", "max_iter", "keyword", "path", "n_keys", "private", "api",
                                  "key", "pas", "cred", "tokenizer_vocab", "token_count"])
def test_ordinary_names_keep_their_value(name):
    assert redact_params({name: "value"}) == {name: "value"}


def test_values_become_mlflow_strings():
    out = redact_params({"s": "text", "i": 3, "f": 1.5, "b": True, "n": None, "l": [1, "a"],
                         "d": {"k": 2}, "p": object.__new__(type("P", (), {"__str__": lambda s: "P!"}))})
    assert out == {"s": "text", "i": "3", "f": "1.5", "b": "true", "n": "null", "l": '[1, "a"]',
                   "d": '{"k": 2}', "p": '"P!"'}
    assert all(isinstance(v, str) for v in out.values())
    assert redact_params({}) == {}
