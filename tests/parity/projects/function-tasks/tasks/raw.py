"""Raw data: a small table written as CSV."""

import csv
from pathlib import Path


def get(product, n_rows, api_token):
    """Write ``n_rows`` rows of (id, value); the token only shows that secrets may be params."""
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    with open(str(product), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "value"])
        for i in range(n_rows):
            writer.writerow([i, i * i])
