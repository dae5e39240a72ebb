"""The approval gate holds for a build of explicitly named tasks (issue 23: a mutation probe found
no test failing when ``nbgov build TASK -e prod`` skipped the gate)."""

from __future__ import annotations

import pytest

from .test_review_build_gate import pipeline_project  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("selection", [("b", "--force"), ("a+",), ("a", "b")],
                         ids=["named", "with-downstream", "two-named"])
def test_a_named_unapproved_task_is_refused_in_prod(pipeline_project, nbgov, bob, selection):  # noqa: F811
    spec = pipeline_project / "pipeline.yaml"
    if "a+" in selection:  # b downstream of a: `a+` selects b too
        text = spec.read_text().replace("product: {nb: products/b.ipynb", "upstream: [a]\n"
                                        "    product: {nb: products/b.ipynb")
        spec.write_text("meta:\n  extract_upstream: false\n" + text)
    assert nbgov("review", "approve", "notebooks/a.ipynb", "pipeline.yaml", "--reviewer", bob).code == 0
    refused = nbgov("build", "--environment", "prod", "-q", *selection)
    assert refused.code == 1, refused.out + refused.err
    assert "notebooks/b.ipynb: unreviewed" in refused.err, refused.err
    assert not (pipeline_project / "products").exists(), "nothing may run before the gate"
    # the same selection without the environment runs (the gate is the environment's)
    assert nbgov("build", "-q", *selection).code == 0
