# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# Load a small table.

# %%
from pathlib import Path

# %% tags=["parameters"]
upstream = None
product = None
n_rows = 2

# %%
rows = [f"{i},{i * 3}" for i in range(n_rows)]
Path(product["data"]).write_text("id,value\n" + "\n".join(rows) + "\n")

# %%
from IPython.display import display  # noqa: E402


def glue(name, value):
    """Record a scrap exactly as scrapbook's sb.glue does (without importing scrapbook)."""
    display({"application/scrapbook.scrap.json+json": {"name": name, "data": value, "encoder": "json",
                                                        "version": 1}},
            metadata={"scrapbook": {"name": name, "data": True, "display": False}}, raw=True)


glue("rows", n_rows)
