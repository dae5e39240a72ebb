# %%
from pathlib import Path

# %% tags=["parameters"]
upstream = ["load"]
product = None
stage = None

# %%
rows = Path(upstream["load"]).read_text().split()[1:]
Path(product["summary"]).parent.mkdir(parents=True, exist_ok=True)
Path(product["summary"]).write_text(f"{stage}: {len(rows)} rows\n")

# %%
from IPython.display import display  # noqa: E402


def glue(name, value):
    """Record a scrap exactly as scrapbook's sb.glue does (without importing scrapbook)."""
    display({"application/scrapbook.scrap.json+json": {"name": name, "data": value, "encoder": "json",
                                                        "version": 1}},
            metadata={"scrapbook": {"name": name, "data": True, "display": False}}, raw=True)


glue("rows", len(rows))
