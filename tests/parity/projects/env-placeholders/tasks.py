"""Load a sample whose size comes from env.yaml."""

from pathlib import Path


def load(product, sample_size, api_key):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text("i\n" + "".join(f"{i}\n" for i in range(sample_size)))
