"""Tasks of the training and the serving pipelines."""

import json
from pathlib import Path


def train(product):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text(json.dumps({"slope": 2}))


def batch(product, rows):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text("x\n" + "".join(f"{i}\n" for i in range(int(rows))))


def predict(product, upstream):
    xs = [int(v) for v in Path(str(upstream["batch"])).read_text().split()[1:]]
    Path(str(product)).write_text("x,y\n" + "".join(f"{x},{2 * x}\n" for x in xs))
