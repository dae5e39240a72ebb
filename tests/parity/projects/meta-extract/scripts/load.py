# %% [markdown]
# Load a small table; the product is declared here (meta.extract_product).

# %%
from pathlib import Path

# %% tags=["parameters"]
upstream = None
product = {"nb": "out/load.ipynb", "data": "out/load.csv"}

# %%
Path(product["data"]).write_text("id,value\n" + "".join(f"{i},{i * 4}\n" for i in range(4)))
