"""A product named on the command line (issue 23, item 9): ``nbgov check products/x.ipynb`` said
"all clean: 0 files checked". An executed notebook named is checked with the product rules; a
named file that nothing checks is an error, not a pass."""

from __future__ import annotations

import json

SPEC = """tasks:
  - source: notebooks/clean--task.ipynb
    product: {nb: products/x.ipynb, data: products/x.csv}
"""


def executed(output: str) -> dict:
    cells = [
        {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "source": "x = 0",
         "outputs": [], "execution_count": 1},
        {"cell_type": "code", "id": "i", "metadata": {"tags": ["injected-parameters"]},
         "source": 'product = {"nb": "/home/ada/proj/products/x.ipynb"}', "outputs": [], "execution_count": 2},
        {"cell_type": "code", "id": "o", "metadata": {}, "source": "print(conn)", "execution_count": 3,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": output}]},
    ]
    return {"cells": cells, "metadata": {"papermill": {"parameters": {"x": 1}},
                                         "kernelspec": {"name": "python3", "language": "python",
                                                        "display_name": "Python 3"}},
            "nbformat": 4, "nbformat_minor": 5}


def test_a_named_product_is_checked(make_project, run_cli):
    root = make_project("clean--task.ipynb", pipeline=SPEC)
    (root / "products").mkdir()
    (root / "products/x.ipynb").write_text(json.dumps(executed("postgresql://ada:Pg-s3cret-99@db/x\n")))
    leaky = run_cli(root, "check", "products/x.ipynb")
    assert leaky.returncode == 1, leaky.stdout + leaky.stderr
    assert "products/x.ipynb" in leaky.stdout and "NBG502" in leaky.stdout, leaky.stdout
    assert "Pg-s3cret-99" not in leaky.stdout + leaky.stderr
    # papermill's own injected cell, its outputs and absolute paths are what a product is made of
    (root / "products/x.ipynb").write_text(json.dumps(executed("rows: 42\n")))
    clean = run_cli(root, "check", "products/x.ipynb")
    assert clean.returncode == 0 and "1 file" in clean.stdout, clean.stdout + clean.stderr


def test_a_named_file_nothing_checks_is_an_error(make_project, run_cli):
    root = make_project("clean--task.ipynb", pipeline=SPEC)
    (root / "products").mkdir()
    (root / "products/x.csv").write_text("a,b\n")
    refused = run_cli(root, "check", "products/x.csv")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "nothing checked" in refused.stderr and "products/x.csv" in refused.stderr
    assert "Traceback" not in refused.stderr
