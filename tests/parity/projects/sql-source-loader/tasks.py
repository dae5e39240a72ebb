"""Raw sales as a CSV file, uploaded to the database by an SQLUpload task."""

import csv
from pathlib import Path


def sales(product):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    with open(str(product), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["region", "amount"])
        for region, amount in [("north", 10), ("south", 7), ("north", 5), ("east", 1)]:
            writer.writerow([region, amount])
