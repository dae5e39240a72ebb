export PATH="$NBGOV_BIN:$PATH"
set -u
P="$ATTACK_DIR"; cd "$P"; mkdir notebooks
printf 'pipeline = "pipeline.yaml"\nexperiment = "uri"\n' > nbgov.toml
printf 'tasks:\n  - source: notebooks/a.ipynb\n    product: products/a.ipynb\n' > pipeline.yaml
python - <<'E'
import json
c=lambda s,t=(): {"cell_type":"code","metadata":{"tags":list(t)},"source":s,"outputs":[],"execution_count":None}
json.dump({"cells":[c("upstream = None\nproduct = None",["parameters"]),c("import time; time.sleep(3)")],
 "metadata":{"kernelspec":{"name":"python3","display_name":"Python 3","language":"python"}},"nbformat":4,"nbformat_minor":5},open("notebooks/a.ipynb","w"))
E
git init -q; git -c user.name=a -c user.email=a@x add -A; git -c user.name=a -c user.email=a@x commit -qm i
( for i in $(seq 1 80); do ps -eo args | grep -o "[u]ploader.*S3CRETxURIPW"; sleep 0.25; done | head -1 > ps.txt ) &
MLFLOW_TRACKING_URI="http://mlfuser:S3CRETxURIPW@127.0.0.1:9/" nbgov build -q 2> err.txt >/dev/null; wait
grep -q S3CRETxURIPW err.txt && echo "RESULT=BROKEN" || echo "RESULT=HELD"
[ -s ps.txt ] && echo "RESULT=BROKEN" || echo "RESULT=HELD"
