# %% [markdown]
# Train a "model" on the loaded table (py:percent without a jupytext header).

# %%
import json
from pathlib import Path

# %% tags=["parameters"]
upstream = ["load"]
product = None
learning_rate = 0.1

# %%
lines = Path(upstream["load"]["data"]).read_text().splitlines()[1:]
total = sum(int(line.split(",")[1]) for line in lines)
weight = total * learning_rate
Path(product["model"]).write_text(json.dumps({"weight": weight, "notes": notes}))  # noqa: F821

# %%
from IPython.display import display  # noqa: E402


def glue(name, value):
    """Record a scrap exactly as scrapbook's sb.glue does (without importing scrapbook)."""
    display({"application/scrapbook.scrap.json+json": {"name": name, "data": value, "encoder": "json",
                                                        "version": 1}},
            metadata={"scrapbook": {"name": name, "data": True, "display": False}}, raw=True)


glue("weight", weight)
glue("total", total)
