#!/bin/bash
# I7: a PR reverts .nbgov/allowed_signers to an older version that Rita once approved (before a
# key was revoked); the gate counts the old approval, so the revoked key is trusted again after merge.
source "$(dirname "$0")/prelude.sh"
cp .nbgov/allowed_signers ../signers.orig
echo "eve@example.com namespaces=\"nbgov-review\" $(cut -d' ' -f1,2 ../keys/eve.pub)" >> .nbgov/allowed_signers; git $A commit -qam "add eve"
approve .nbgov/allowed_signers "Rita <rita@example.com>" ../keys/rita
cp ../signers.orig .nbgov/allowed_signers; git $A commit -qam "revoke eve (key leaked)"
approve .nbgov/allowed_signers "Rita <rita@example.com>" ../keys/rita
git checkout -q -b pr
git show HEAD~2:.nbgov/allowed_signers > .nbgov/allowed_signers; git $M commit -qam "harmless"
nbgov review gate --base main; echo "GATE_RC=$?"
