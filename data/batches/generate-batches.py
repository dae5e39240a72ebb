"""Write the example's production batches (deterministic): ``python data/batches/generate-batches.py``.

The rows come from the breast-cancer data that ships inside scikit-learn, with the same two
engineered columns as notebooks/features.ipynb, so a batch looks like what the model was trained
on. Three batches, 200 rows each:

- ``batch-01-ok.csv``: a plain sample, with labels (``target``): no drift;
- ``batch-02-ok-unlabeled.csv``: another plain sample, without labels: drift only;
- ``batch-03-drift.csv``: a sample whose size and texture features are shifted (as after a change
  of imaging device), with labels: drift alerts and the model's F1 drops.

Its name is no Python identifier on purpose: no import can name it, so it is no module a
kernel could import from the project (docs/security.md, R4) and needs no review.
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

HERE = Path(__file__).parent
ROWS = 200
SHIFTED = (
    "mean_radius",
    "mean_texture",
    "mean_perimeter",
    "mean_area",
    "worst_radius",
    "worst_texture",
    "worst_perimeter",
    "worst_area",
    "mean_smoothness",
)


def frame():
    data = load_breast_cancer(as_frame=True).frame
    data.columns = [c.replace(" ", "_") for c in data.columns]
    data["area_per_radius"] = data["mean_area"] / data["mean_radius"]
    data["worst_to_mean_concavity"] = data["worst_concavity"] / (data["mean_concavity"] + 1e-9)
    return data


def main() -> None:
    data = frame()
    rng = np.random.default_rng(20240601)
    ok = data.sample(ROWS, random_state=1)
    ok.to_csv(HERE / "batch-01-ok.csv", index=False, float_format="%.6g")
    data.sample(ROWS, random_state=2).drop(columns="target").to_csv(
        HERE / "batch-02-ok-unlabeled.csv", index=False, float_format="%.6g"
    )
    drift = data.sample(ROWS, random_state=3).copy()
    for col in SHIFTED:
        drift[col] = drift[col] * 1.3 + rng.normal(0, drift[col].std() * 0.1, ROWS)
    drift["area_per_radius"] = drift["mean_area"] / drift["mean_radius"]
    drift.to_csv(HERE / "batch-03-drift.csv", index=False, float_format="%.6g")


if __name__ == "__main__":
    main()
