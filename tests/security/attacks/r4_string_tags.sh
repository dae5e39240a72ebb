#!/bin/bash
# I2 / notebook version: metadata.tags given as the STRING "skip-execution" leaves the nbv1 version
# unchanged (nbgov ignores non-list tags) but nbclient's `"skip-execution" in tags` substring test
# skips the approved cell in the prod build. ("raises-exception" the same way turns an approved assert off.)
source "$(dirname "$0")/prelude.sh"
python - <<'PY'
import nbformat
nb=nbformat.read('notebooks/a.ipynb',4)
nb.cells.append(nbformat.v4.new_code_cell('from pathlib import Path\nPath("products/check_ran").write_text("x")  # a safety check'))
nbformat.write(nb,'notebooks/a.ipynb')
PY
git $A commit -qam "add a check"; approve notebooks/a.ipynb "Rita <rita@example.com>" ../keys/rita
git checkout -q -b pr; echo "VERSION=$(nbgov version notebooks/a.ipynb | cut -d' ' -f1)"
python -c "
import json; nb=json.load(open('notebooks/a.ipynb')); nb['cells'][2]['metadata']['tags']='skip-execution'; json.dump(nb,open('notebooks/a.ipynb','w'),indent=1)"
echo "VERSION=$(nbgov version notebooks/a.ipynb | cut -d' ' -f1)"
git $M commit -qam "metadata"
nbgov review gate --base main; echo "GATE_RC=$?"
