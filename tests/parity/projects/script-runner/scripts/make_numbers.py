# %%
from pathlib import Path

# %% tags=["parameters"]
upstream = None
product = None
count = 3

# %%
Path(product["data"]).parent.mkdir(parents=True, exist_ok=True)
Path(product["data"]).write_text("n\n" + "".join(f"{i}\n" for i in range(count)))
