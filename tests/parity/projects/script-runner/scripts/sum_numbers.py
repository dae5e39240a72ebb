# %%
from pathlib import Path

# %% tags=["parameters"]
upstream = ["make_numbers"]
product = None

# %%
numbers = [int(x) for x in Path(upstream["make_numbers"]["data"]).read_text().split()[1:]]
Path(product["data"]).write_text(f"{sum(numbers)}\n")
Path(product["squares"]).write_text("n,square\n" + "".join(f"{n},{n * n}\n" for n in numbers))
