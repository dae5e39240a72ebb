"""The promotion ledger (.nbgov/promotions.jsonl): chained records, tamper detection, atomic
appends that change nothing when the ledger does not verify."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from nbgov.core.errors import LedgerError
from nbgov.services.models.promotions import (
    append_promotion,
    current_aliases,
    parse_promotions,
    read_promotions,
)


def add(path: Path, version: str, alias: str = "champion", previous: str | None = None,
        applied: list | None = None):
    return append_promotion(
        path, lambda: (applied if applied is not None else []).append(version),
        model="m", version=version, alias=alias, previous=previous, by="Rita <r@x.org>",
        checks=["f1 = 0.95, meets >= 0.9"])


def test_records_chain_and_latest_alias_wins(tmp_path):
    path = tmp_path / ".nbgov/promotions.jsonl"
    assert read_promotions(path) == []
    applied: list = []
    first = add(path, "1", applied=applied)
    second = add(path, "2", previous="1", applied=applied)
    add(path, "1", alias="challenger", applied=applied)
    records = read_promotions(path)
    assert [r.seq for r in records] == [1, 2, 3]
    assert second.prev == first.hash and applied == ["1", "2", "1"]
    latest = current_aliases(records)
    assert latest["m"]["champion"].version == "2" and latest["m"]["champion"].previous == "1"
    assert latest["m"]["challenger"].version == "1"


@pytest.mark.parametrize("tamper, says", [
    (lambda ls: [ls[0].replace('"version": "1"', '"version": "9"'), *ls[1:]], "was edited"),
    (lambda lines: lines[1:], "does not follow"),
    (lambda lines: [lines[1], lines[0]], "does not follow"),
    (lambda lines: [*lines[:-1], lines[-1][:40]], "not valid JSON"),
    (lambda lines: [json.dumps({**json.loads(lines[0]), "extra": 1}), *lines[1:]], "is not a"),
])
def test_tampering_is_detected_and_blocks_appends(tmp_path, tamper, says):
    path = tmp_path / "promotions.jsonl"
    add(path, "1")
    add(path, "2", previous="1")
    path.write_text("\n".join(tamper(path.read_text().splitlines())) + "\n")
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=says):
        read_promotions(path)
    applied: list = []
    with pytest.raises(LedgerError):
        add(path, "3", applied=applied)
    assert applied == [] and path.read_bytes() == before  # the alias was not moved


def test_failed_registry_change_writes_nothing(tmp_path):
    path = tmp_path / "promotions.jsonl"
    add(path, "1")
    before = path.read_bytes()

    def boom():
        raise RuntimeError("registry down")

    with pytest.raises(RuntimeError):
        append_promotion(path, boom, model="m", version="2", alias="champion", previous="1", by="x")
    assert path.read_bytes() == before


def test_concurrent_promotions_queue_up(tmp_path):
    path = tmp_path / "promotions.jsonl"
    threads = [threading.Thread(target=add, args=(path, str(i))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = parse_promotions(path.read_text(), path)
    assert sorted(r.version for r in records) == [str(i) for i in range(8)]
