"""Each rule of content freshness (``nbgov.core.freshness.decide``) on its own, with the reason
it gives (found by `make mutate`: the reasons and the canonical comparison of params had no
test of their own)."""

from __future__ import annotations

from pathlib import PurePosixPath

from nbgov.core.freshness import Freshness, decide

V = "nbv1:" + "a" * 64


def last_run(**changes) -> dict:
    record = {"outcome": "succeeded", "notebook": {"path": "n.ipynb", "version": V},
              "params": {"a": 1, "b": {"x": [1, 2]}},
              "inputs": [{"path": "raw.csv", "digest": "sha256:1"}, {"path": "cfg.json", "digest": "sha256:2"}]}
    record.update(changes)
    return record


NOW = {"notebook_version": V, "params": {"b": {"x": [1, 2]}, "a": 1},
       "inputs": {"cfg.json": "sha256:2", "raw.csv": "sha256:1"}, "products": {"out.csv": "sha256:9"}}


def verdict(record, **now) -> Freshness:
    return decide(record, **{**NOW, **now})


def test_same_content_is_fresh_whatever_the_key_order():
    assert verdict(last_run()) == Freshness(True, "same notebook version, parameters and input contents")


def test_each_change_is_named():
    # no record: products nbgov cannot vouch for (a run killed before its record was written,
    # or a run outside nbgov) are never up to date on Ploomber's word
    assert verdict(None) == Freshness(False, "no lineage record")
    assert verdict(last_run(outcome="failed")) == Freshness(False, "its last run failed")
    assert verdict(last_run(outcome=None)) == Freshness(False, "its last run did not finish")
    assert verdict(last_run(outcome="killed")) == Freshness(False, "its last run was killed")
    # a product whose bytes differ from what its run wrote (a half-written file, an unrecorded run)
    assert verdict(last_run(products={"p": {"path": "a.csv", "digest": "sha256:1"}}),
                   products={"a.csv": "sha256:2"}) == Freshness(False, "product a.csv changed since its recorded run")
    # a product its run did not leave (digest None) that exists now was made by something else
    assert verdict(last_run(products={"p": {"path": "a.csv", "digest": None}}),
                   products={"a.csv": "sha256:2"}) == Freshness(False, "product a.csv changed since its recorded run")
    assert verdict(last_run(products={"p": {"path": "a.csv", "digest": "sha256:2"}}),
                   products={"a.csv": "sha256:2"}).fresh is True
    assert verdict(last_run(), notebook_version="nbv1:" + "b" * 64) == Freshness(False, "notebook version changed")
    assert verdict(last_run(notebook=None)) == Freshness(False, "notebook version changed")
    assert verdict(last_run(), params={"a": 2, "b": {"x": [1, 2]}}) == Freshness(False, "parameters changed")
    assert verdict(last_run(), params={"a": 1, "b": {"x": [2, 1]}}) == Freshness(False, "parameters changed")
    assert verdict(last_run(), inputs={"cfg.json": "sha256:2", "raw.csv": "sha256:X"}) == \
        Freshness(False, "input raw.csv changed")
    # an input that appeared, or disappeared, is a change; the first in path order is named
    assert verdict(last_run(), inputs={**NOW["inputs"], "new.csv": "sha256:3"}) == \
        Freshness(False, "input new.csv changed")
    assert verdict(last_run(), inputs={"raw.csv": "sha256:1"}) == Freshness(False, "input cfg.json changed")
    assert verdict(last_run(), inputs={"cfg.json": "sha256:X", "raw.csv": "sha256:X"}) == \
        Freshness(False, "input cfg.json changed")
    assert verdict(last_run(), products={"b.csv": None, "a.csv": None, "c.csv": "sha256:1"}) == \
        Freshness(False, "product a.csv is missing")


def test_params_and_inputs_absent_from_the_record_mean_none():
    assert verdict(last_run(params=None, inputs=None), params={}, inputs={}).fresh is True
    assert verdict(last_run(params=None), params={"a": 1}).reason == "parameters changed"


def test_params_that_are_not_json_compare_by_their_text():
    record = last_run(params={"path": "data/raw.csv"})
    assert verdict(record, params={"path": PurePosixPath("data/raw.csv")}).fresh is True
    assert verdict(record, params={"path": PurePosixPath("data/other.csv")}).reason == "parameters changed"
