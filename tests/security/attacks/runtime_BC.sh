export PATH="$NBGOV_BIN:$PATH"
P="$ATTACK_DIR/loc"; mkdir -p "$P"; cd "$P"; MARK="$P/PWNED"
printf 'pipeline = "pipeline.yaml"\nexperiment = "loc"\n[environments.prod]\nrequire_approved = true\n' > nbgov.toml
echo "location: factory.make" > pipeline.yaml
cat > factory.py <<'E'
from ploomber import DAG
from ploomber.tasks import PythonCallable
from ploomber.products import File
def work(product):
    open(str(product), "w").write("ok")
def make():
    dag = DAG()
    PythonCallable(work, File("products/out.txt"), dag=dag, name="work")
    return dag
E
git init -q; git config user.name alice; git config user.email a@x.org; git add -A; git commit -qm i
nbgov review approve --all-changed --reviewer "Bob <bob@y.org>" >/dev/null; git add -A; git commit -qm approve
sed -i "s|    open(str(product), \"w\").write(\"ok\")|    open(\"$MARK\", \"w\").write(\"x\"); open(str(product), \"w\").write(\"ok\")|" factory.py
git commit -qam "unreviewed change"
nbgov build --environment prod -q; echo "LOCATION_BUILD_RC=$?"
[ -f "$MARK" ] && echo "LOCATION=BROKEN" || echo "LOCATION=HELD"
Q="$ATTACK_DIR/magic"; mkdir -p "$Q"; cd "$Q"; mkdir notebooks
printf 'pipeline = "pipeline.yaml"\nexperiment = "magic"\n[environments.prod]\nrequire_approved = true\n' > nbgov.toml
printf 'tasks:\n  - source: notebooks/a.ipynb\n    product: products/a.ipynb\n' > pipeline.yaml
python - <<'E'
import json
c=lambda s,t=(): {"cell_type":"code","metadata":{"tags":list(t)},"source":s,"outputs":[],"execution_count":None}
json.dump({"cells":[c("upstream = None\nproduct = None",["parameters"]),c("%load_ext helpers"),c("%run helper_run.py")],
 "metadata":{"kernelspec":{"name":"python3","display_name":"Python 3","language":"python"}},"nbformat":4,"nbformat_minor":5},open("notebooks/a.ipynb","w"))
E
printf 'def load_ipython_extension(ip):\n    pass\n' > helpers.py; echo 'x = 1' > helper_run.py
git init -q; git config user.name alice; git config user.email a@x.org; git add -A; git commit -qm i
nbgov review approve --all-changed --reviewer "Bob <bob@y.org>" > /dev/null; git add -A; git commit -qm approve
printf 'open("%s/PWNED_ext","w").write("x")\ndef load_ipython_extension(ip):\n    pass\n' "$Q" > helpers.py
echo "open('$Q/PWNED_run','w').write('x')" > helper_run.py; git commit -qam "unreviewed change"
nbgov review gate >/dev/null 2>&1; echo "MAGIC_GATE_RC=$?"
nbgov build --environment prod -q >/dev/null 2>&1; echo "MAGIC_BUILD_RC=$?"
[ -f "$Q/PWNED_ext" ] || [ -f "$Q/PWNED_run" ] && echo "MAGIC=BROKEN" || echo "MAGIC=HELD"
