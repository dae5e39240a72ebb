"""Join the two branches built in parallel."""

from pathlib import Path


def combine(product, upstream):
    total = int(Path(upstream["left"]["data"]).read_text()) + int(Path(upstream["right"]["data"]).read_text())
    Path(str(product)).write_text(f"{total}\n")
