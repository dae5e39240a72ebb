"""The README is what a visitor reads in two minutes: the two commands first, a short tour, a
picture, and the way to the docs. Its links and picture exist; the reference lives in docs/."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), re.M))


def test_the_two_commands_come_first_and_are_make_targets():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make example", "make test"]
    assert {"example", "test", "docs"} <= _make_targets()
    # nothing but the title and the one-paragraph pitch comes before them
    assert README.index("make example") < README.index("\n## ")


def test_readme_is_short():
    lines = README.splitlines()
    assert len(lines) <= 80, f"README.md has {len(lines)} lines: move reference material to docs/"
    assert len(README.encode()) <= 6000


def test_tour_is_at_most_ten_commands():
    tour = re.search(r"## A tour in ten lines\n+```bash\n(.*?)```", README, re.S).group(1)
    assert 5 <= len(tour.strip().splitlines()) <= 10


def test_links_and_picture_exist():
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert any(t.endswith(".png") for t in local), "the README shows a picture"
    assert "docs/getting-started.md" in local
    for target in local:
        assert (REPO / target).exists(), target


def test_readme_says_how_to_build_the_docs():
    assert "make docs" in README and "site/index.html" in README
