"""Function tasks of the pipeline."""

from pathlib import Path


def raw(product, rows):
    """Write a small table of `rows` rows."""
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text("id,value\n" + "".join(f"{i},{i * 2}\n" for i in range(rows)))
