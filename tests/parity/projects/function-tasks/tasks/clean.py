"""Clean data: scale the raw values (upstream is extracted from this source)."""

import csv


def clean(product, upstream, factor):
    with open(str(upstream["get"]), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(str(product), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "scaled"])
        for row in rows:
            writer.writerow([row["id"], int(row["value"]) * factor])
