#!/bin/bash
# I1/I8/I4: a PR replaces the committed ledger by a symlink to a truncated copy; the
# committed "changes requested" disappears, `ledger verify --against main` and `review gate --base main` pass.
source "$(dirname "$0")/prelude.sh"
sleep 1; nbgov review request-changes notebooks/a.ipynb --reviewer "Rita <rita@example.com>" --sign-key ../keys/rita -m "bug" >/dev/null
git add -A; git $R commit -qm "rita requests changes"
nbgov review gate --base main >/dev/null 2>&1 && echo "unexpected: base gate passes" || echo "base: gate refuses (changes-requested) - expected"
git checkout -q -b pr
head -1 .nbgov/reviews.jsonl > old.jsonl; rm .nbgov/reviews.jsonl; ln -s ../old.jsonl .nbgov/reviews.jsonl
git add -A; git $M commit -qm "tidy"
nbgov ledger verify --against main; echo "VERIFY_RC=$?"
nbgov review gate --base main; echo "GATE_RC=$?"
