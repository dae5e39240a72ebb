"""docs/reference/configuration.md lists every key of nbgov.toml the code accepts, and no other,
and its examples are a valid configuration.

The keys come from the code's own tables of known keys; the page's keys from its ```toml blocks.
A feature that adds a key fails here until the page documents it.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

from nbgov.core import config as core_config
from nbgov.core.checks import settings as check_settings
from nbgov.services.models import monitor, promote
from nbgov.services.review import store as review_store

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reference" / "configuration.md"


def _blocks() -> list[dict]:
    text = PAGE.read_text(encoding="utf-8")
    return [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", text, re.S)]


def _merge(into: dict, new: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def _documented() -> dict:
    merged: dict = {}
    for block in _blocks():
        _merge(merged, block)
    return merged


def _code_keys() -> dict[str, set[str]]:
    """Section -> the keys the code accepts ("" is the top level)."""
    return {
        "": set(core_config._KNOWN_TOP),
        "execution": set(core_config.EXECUTION_KEYS),
        "environments.*": set(core_config.ENVIRONMENT_KEYS),
        "review": set(review_store._KEYS),
        "check": set(check_settings._KEYS),
        "promote": set(promote._KEYS),
        "monitor": set(monitor._KEYS),
    }


def _page_keys(doc: dict) -> dict[str, set[str]]:
    envs = doc.get("environments", {})
    return {
        "": set(doc),
        "execution": set(doc.get("execution", {})),
        "environments.*": set().union(*(set(t) for t in envs.values())) if envs else set(),
        "review": set(doc.get("review", {})),
        "check": set(doc.get("check", {})),
        "promote": set(doc.get("promote", {})),
        "monitor": set(doc.get("monitor", {})),
    }


def test_page_lists_exactly_the_keys_the_code_accepts():
    code, page = _code_keys(), _page_keys(_documented())
    problems = []
    for section, keys in code.items():
        where = f"[{section}]" if section else "the top level"
        if keys - page[section]:
            problems.append(f"{where}: undocumented {sorted(keys - page[section])}")
        if page[section] - keys:
            problems.append(f"{where}: documented but unknown to the code {sorted(page[section] - keys)}")
    assert not problems, "docs/reference/configuration.md: " + "; ".join(problems)


def test_every_top_level_key_is_in_the_table():
    text = PAGE.read_text(encoding="utf-8")
    scalar_keys = {k for k in core_config._KNOWN_TOP if k not in _code_keys() and not k == "environments"}
    for key in scalar_keys:
        assert re.search(rf"^\| `{key}` \|", text, re.M), f"`{key}` has no row in the top-level table"


def test_examples_are_a_valid_configuration(tmp_path):
    doc = _documented()
    lines = []
    # written back as TOML by hand (tomllib reads only): scalars, lists and nested tables
    def emit(prefix: str, table: dict) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict) or not v or k == "outputs"}
        if prefix:
            lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{_key(key)} = {_value(value)}")
        for key, value in table.items():
            if key not in scalars:
                emit(f"{prefix}.{_key(key)}" if prefix else _key(key), value)
    emit("", doc)
    (tmp_path / "nbgov.toml").write_text("\n".join(lines) + "\n")
    shutil.copy(REPO / "pipeline.yaml", tmp_path / "pipeline.yaml")
    config = core_config.load_config(tmp_path)
    config.env_settings("prod")
    config.env_settings("dev")
    review_store.ReviewSettings.from_config(config)
    promote.PromoteSettings.from_config(config)
    monitor.MonitorSettings.from_config(config)
    check_settings.parse_settings(config.section("check"), config.raw.get("kernel"), config.source)
    assert config.experiment == doc["experiment"]


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    return str(value)
