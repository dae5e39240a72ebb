"""A sample and its statistics."""

import json
from pathlib import Path


def sample(product, rows):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text("x\n" + "".join(f"{i * 2}\n" for i in range(rows)))


def stats(product, upstream):
    values = [int(v) for v in Path(str(upstream["sample"])).read_text().split()[1:]]
    Path(str(product)).write_text(json.dumps({"n": len(values), "sum": sum(values)}))
