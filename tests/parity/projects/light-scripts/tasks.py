"""A function task feeding the light-format script."""

from pathlib import Path


def seed(product):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text("1 2 3 4\n")
