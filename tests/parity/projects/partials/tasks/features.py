"""Feature functions imported from partial.features.yaml."""

from pathlib import Path


def width(product):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text("id,width\n0,1\n1,2\n2,3\n")


def height(product):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text("id,height\n0,4\n1,5\n2,6\n")


def join(product, upstream):
    widths = Path(str(upstream["width"])).read_text().splitlines()[1:]
    heights = Path(str(upstream["height"])).read_text().splitlines()[1:]
    rows = [f"{w.split(',')[0]},{w.split(',')[1]},{h.split(',')[1]}" for w, h in zip(widths, heights, strict=True)]
    Path(str(product)).write_text("id,width,height\n" + "\n".join(rows) + "\n")
