"""No input makes a rule crash: odd but readable notebooks give findings or nothing, never an
internal error (hypothesis builds the odd parts: metadata, tags, sources, outputs)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbgov.core.checks.engine import Suppressions, check_bytes, fix_notebook
from nbgov.core.checks.model import Project
from nbgov.core.checks.registry import load_registry
from nbgov.core.checks.settings import CheckSettings

REGISTRY = load_registry(plugins=False)
RULES = list(REGISTRY)

json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
metadata = st.dictionaries(
    st.sampled_from(["tags", "nbgov", "kernelspec", "language_info", "collapsed", "widgets", "x"]),
    json_value | st.just(["parameters"]) | st.just({"ignore": ["NBG501"]}),
    max_size=4,
)
source = st.one_of(
    st.text(max_size=80),
    st.lists(st.text(max_size=30), max_size=4),
    st.sampled_from(["seed = 1\n", "x = f(1)", "%time x", "password = 'abcdefgh1'", "'/home/a'"]),
)
output = st.one_of(
    st.fixed_dictionaries(
        {"output_type": st.just("stream"), "name": st.just("stdout"), "text": st.text(max_size=60)}
    ),
    st.fixed_dictionaries(
        {
            "output_type": st.just("execute_result"),
            "execution_count": st.integers(),
            "metadata": st.just({}),
            "data": st.dictionaries(
                st.sampled_from(["text/plain", "text/html", "application/json", "image/png"]),
                json_value,
                max_size=2,
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "output_type": st.just("error"),
            "ename": st.text(max_size=5),
            "evalue": st.text(max_size=20),
            "traceback": st.lists(st.text(max_size=30), max_size=3),
        }
    ),
)
cell = st.one_of(
    st.fixed_dictionaries(
        {
            "cell_type": st.just("code"),
            "metadata": metadata,
            "source": source,
            "execution_count": st.none() | st.integers(0, 5),
            "outputs": st.lists(output, max_size=2),
        }
    ),
    st.fixed_dictionaries(
        {"cell_type": st.sampled_from(["markdown", "raw"]), "metadata": metadata, "source": source}
    ),
)
notebook = st.fixed_dictionaries(
    {
        "nbformat": st.just(4),
        "nbformat_minor": st.sampled_from([2, 4, 5]),
        "metadata": metadata,
        "cells": st.lists(cell, max_size=5),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nb=notebook,
    outputs=st.sampled_from(["forbid", "allow", 10]),
    kernel=st.none() | st.just("python3"),
)
def test_rules_and_fixes_never_crash(nb, outputs, kernel):
    check_settings = CheckSettings(outputs=outputs, kernel=kernel)
    project = Project(Path("/nonexistent"), check_settings)
    suppressions = Suppressions(REGISTRY, check_settings)
    raw = json.dumps(nb).encode()
    result = check_bytes("notebooks/x.ipynb", raw, project, RULES, suppressions)
    assert result.errors == []
    if result.context is not None:
        fix_notebook(result, RULES)
        again = check_bytes(
            "notebooks/x.ipynb",
            json.dumps(result.context.nb).encode(),
            project,
            RULES,
            suppressions,
        )
        assert again.errors == []
        # what --fix fixes stays fixed
        assert not any(f.fixable for f in again.findings)


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_are_a_finding_not_a_crash(raw):
    check_settings = CheckSettings()
    result = check_bytes(
        "x.ipynb",
        raw,
        Project(Path("/nonexistent"), check_settings),
        RULES,
        Suppressions(REGISTRY, check_settings),
    )
    assert result.errors == []
    assert result.context is not None or [f.rule for f in result.findings] != []


hex_digest = st.sampled_from([16, 20, 32, 64]).flatmap(
    lambda n: st.binary(min_size=n, max_size=n).map(bytes.hex)
)
b64_blob = st.binary(min_size=30, max_size=600).map(lambda b: base64.b64encode(b).decode())


@settings(max_examples=100, deadline=None)
@given(blobs=st.lists(hex_digest | b64_blob, min_size=1, max_size=5))
def test_hashes_and_base64_do_not_flood(blobs):
    """Digests and base64 payloads in sources and text outputs are not reported as secrets."""
    text = "\n".join(blobs)
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "id": "a",
                "metadata": {},
                "execution_count": 1,
                "source": f"digests = {blobs!r}",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": text},
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"text/plain": text, "image/png": blobs[0]},
                    },
                ],
            }
        ],
    }
    check_settings = CheckSettings(outputs="allow")
    result = check_bytes(
        "x.ipynb",
        json.dumps(nb).encode(),
        Project(Path("/n"), check_settings),
        RULES,
        Suppressions(REGISTRY, check_settings),
    )
    assert [f for f in result.findings if f.rule in {"NBG501", "NBG502"}] == []
