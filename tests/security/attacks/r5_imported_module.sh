#!/bin/bash
# I2 scope: a module imported by an approved notebook is no review target; a PR that edits only the
# module passes `review gate --base main`, and `nbgov build -e prod` runs the unapproved code.
source "$(dirname "$0")/prelude.sh"
echo 'def f(): return "ok"' > helper.py
python - <<'PY'
import nbformat
nb=nbformat.read('notebooks/a.ipynb',4)
nb.cells[1].source='import sys; sys.path.insert(0, ".")\nimport helper\nfrom pathlib import Path\nPath(product["out"]).write_text(helper.f())'
nbformat.write(nb,'notebooks/a.ipynb')
PY
git add -A; git $A commit -qm "use helper"; approve notebooks/a.ipynb "Rita <rita@example.com>" ../keys/rita
git checkout -q -b pr
printf 'def f():\n    open("products/UNAPPROVED_CODE_RAN","w").write("x"); return "ok"\n' > helper.py; git $M commit -qam "refactor"
nbgov review gate --base main; echo "GATE_RC=$?"
