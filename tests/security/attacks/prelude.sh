# --- common prelude: a signed-review project, main approved by Rita (trusted signer) ---
set -e
export PATH="$NBGOV_BIN:$PATH"
W="$ATTACK_DIR"; cd "$W"; mkdir keys
for k in rita bob eve; do ssh-keygen -q -t ed25519 -N '' -f keys/$k -C $k; done
mkdir proj; cd proj; git init -q -b main
A="-c user.name=Alice -c user.email=alice@example.com"; R="-c user.name=Rita -c user.email=rita@example.com"
M="-c user.name=Mallory -c user.email=mallory@evil.example"
mkdir notebooks; python - <<'PY'
import nbformat
nb=nbformat.v4.new_notebook(); nb.metadata.kernelspec={"name":"python3","display_name":"Python 3","language":"python"}
c=nbformat.v4.new_code_cell('upstream = None\nproduct = None'); c.metadata.tags=['parameters']
nb.cells=[c, nbformat.v4.new_code_cell('from pathlib import Path\nPath(product["out"]).write_text("ok")')]
nbformat.write(nb,'notebooks/a.ipynb')
PY
printf 'meta:\n  extract_upstream: false\n  extract_product: false\ntasks:\n  - source: notebooks/a.ipynb\n    product:\n      nb: products/a.ipynb\n      out: products/a.txt\n' > pipeline.yaml
printf 'pipeline = "pipeline.yaml"\n[review]\npaths = ["notebooks"]\nrequire_signed = true\n[environments.prod]\nrequire_approved = true\n' > nbgov.toml
mkdir .nbgov; echo "rita@example.com namespaces=\"nbgov-review\" $(cut -d' ' -f1,2 ../keys/rita.pub)" > .nbgov/allowed_signers
printf '/products/\n/mlflow.db\n/mlruns/\n' > .gitignore
git add -A; git $A commit -qm base
approve() { nbgov review approve "$1" --reviewer "$2" --sign-key "$3" >/dev/null; git add -A; git -c user.name="${2% <*}" -c user.email="$(echo $2|sed 's/.*<\(.*\)>/\1/')" commit -qm "approve $1"; }
approve notebooks/a.ipynb "Rita <rita@example.com>" ../keys/rita
set +e   # the checks below may fail once fixed
# ---
