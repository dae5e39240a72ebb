#!/bin/bash
# I6: Bob, a trusted signer, gets his own change (which Rita rejected) approved by his own key.
# His commit C1 is an ancestor of the commit Rita's later approval names, and a merge (by Bob)
# that keeps C1's notebook is TREESAME to C1, so `git log <anchor>..HEAD -- nb` shows no one.
source "$(dirname "$0")/prelude.sh"
echo "bob@example.com namespaces=\"nbgov-review\" $(cut -d' ' -f1,2 ../keys/bob.pub)" >> .nbgov/allowed_signers
git $R commit -qam "bob becomes a signer"
B="-c user.name=Bob -c user.email=bob@example.com"
git checkout -q -b pr
python -c "
import nbformat
nb=nbformat.read('notebooks/a.ipynb',4); nb.cells[1].source+='\nprint(\"bob code\")'; nbformat.write(nb,'notebooks/a.ipynb')"
git $B commit -qam "C1: bob's change"; C1=$(git rev-parse HEAD)
sleep 1; nbgov review request-changes notebooks/a.ipynb --reviewer "Rita <rita@example.com>" --sign-key ../keys/rita -m "no" >/dev/null
git add -A; git $R commit -qm "rita: changes requested"
git show main:notebooks/a.ipynb > notebooks/a.ipynb; git $B commit -qam "C2: bob reverts"
sleep 1; approve notebooks/a.ipynb "Rita <rita@example.com>" ../keys/rita   # Rita re-approves the old version (record commit = C2)
C3=$(git rev-parse HEAD)
git checkout -q -b x $C1; git $B merge -q -s ours --no-edit $C3; git checkout $C3 -- .nbgov; git $B commit -q --amend --no-edit
sleep 1
# Bob writes his approval by hand (the CLI refuses), signed with his own key; author fields are his claim
python - <<'PY'
import json,subprocess,hashlib
from pathlib import Path
from nbgov.core.ledger import signed_payload, utc_now, new_nonce
from nbgov.adapters.sshsig import sign
from nbgov.core.identity import notebook_version
led=Path(".nbgov/reviews.jsonl"); lines=[json.loads(l) for l in led.read_text().splitlines() if l.strip()]
r={"schema":"nbgov.review-record/1","at":utc_now(),"notebook":"notebooks/a.ipynb",
   "version":notebook_version(json.load(open("notebooks/a.ipynb"))),"decision":"approved","reviewer":"Bob <bob@example.com>",
   "note":"","commit":subprocess.check_output(["git","rev-parse","HEAD"],text=True).strip(),"dirty":False,
   "author":"Alice <alice@example.com>","authors":["Alice <alice@example.com>"],"nonce":new_nonce()}
r["signature"]=sign(signed_payload(r),Path("../keys/bob"))
r["seq"]=len(lines)+1; r["prev"]=lines[-1]["hash"]
r["hash"]="sha256:"+hashlib.sha256(json.dumps(r,sort_keys=True,separators=(",",":"),ensure_ascii=False).encode()).hexdigest()
with led.open("a") as f: f.write(json.dumps(r,sort_keys=True,separators=(",",":"),ensure_ascii=False)+"\n")
PY
git add -A; git $B commit -qm "approve"
nbgov ledger verify --against main
nbgov review gate --base main; echo "GATE_RC=$?"
