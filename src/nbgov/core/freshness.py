"""Content-aware freshness: does a task need to run, judged by content digests, not timestamps?

Ploomber calls a task outdated when its source or params changed or an upstream product has a
newer timestamp. nbgov knows more: the task's last lineage record holds the notebook version,
the params and the digest of every input and product of that run. So a task whose notebook
version, params and input contents are unchanged (and whose products all exist) is fresh even
if an upstream file was rewritten with the same bytes; a task whose input content changed is
stale even if no timestamp moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nbgov.core.redact import redact_params


@dataclass(frozen=True)
class Freshness:
    """A verdict on one task.

    Attributes:
        fresh: True (skip: same content as its last run), False (run: something changed, or
            nothing recorded it), None (a record this reader cannot judge: let the runner's own
            rules decide).
        reason: one line saying why.
    """

    fresh: bool | None
    reason: str


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def decide(
    record: dict[str, Any] | None,
    notebook_version: str | None,
    params: dict[str, Any],
    inputs: dict[str, str | None],
    products: dict[str, str | None],
) -> Freshness:
    """Compare a task's last lineage record with the current state.

    Args:
        record: the task's last lineage record (dict), or None (the task has none: never
            recorded, or its run ended before its record was written).
        notebook_version: the notebook's version now (``nbv1:...``).
        params: the task's parameters now.
        inputs: upstream data the task would read now: path -> content digest (None: missing).
        products: the task's products now: path -> content digest (None: missing).
    """
    if record is None:
        # products without a record were made by a run nbgov cannot vouch for: one killed
        # between writing them (and Ploomber's metadata) and writing its record, or a run
        # outside nbgov. Never up to date on Ploomber's word: the task runs again, recorded
        return Freshness(False, "no lineage record")
    if record.get("outcome") != "succeeded":
        said = {"failed": "failed", "killed": "was killed", "stopped": "stopped early (DAGBuildEarlyStop)"}
        return Freshness(False, f"its last run {said.get(record.get('outcome'), 'did not finish')}")
    if (record.get("notebook") or {}).get("version") != notebook_version:
        return Freshness(False, "notebook version changed")
    # records store parameters redacted (nbgov.core.redact): compare both sides redacted, so a
    # redacted secret reads as unchanged and every other parameter compares as it is
    if _canonical(redact_params(record.get("params") or {})) != _canonical(redact_params(params)):
        return Freshness(False, "parameters changed")
    recorded_inputs = {i.get("path"): i.get("digest") for i in record.get("inputs") or []}
    for path in sorted(set(recorded_inputs) | set(inputs)):
        if recorded_inputs.get(path) != inputs.get(path):
            return Freshness(False, f"input {path} changed")
    # a missing product must be made again; a product whose bytes differ from what its recorded
    # run wrote was changed since (a half-written file of a killed run, an unrecorded run): its
    # task is outdated, never up to date
    recorded_products = {p.get("path"): p.get("digest") for p in (record.get("products") or {}).values()
                         if isinstance(p, dict)}
    for path in sorted(products):
        if products[path] is None:
            return Freshness(False, f"product {path} is missing")
        # (a product its run did not leave, digest None, that exists now was made since)
        if path in recorded_products and recorded_products[path] != products[path]:
            return Freshness(False, f"product {path} changed since its recorded run")
    return Freshness(True, "same notebook version, parameters and input contents")
