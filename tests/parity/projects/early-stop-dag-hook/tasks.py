"""Two function tasks."""

from pathlib import Path


def extract(product):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text("rows=3\n")


def load(product, upstream):
    Path(str(product)).write_text(Path(str(upstream["extract"])).read_text().upper())
