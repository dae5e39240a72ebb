"""Review: who approved which version of each review target, and whether that counts.

Owns: the review status of notebooks and other task sources and the gate on them
(:mod:`.state`), the ledger and snapshots on disk and the settings that place them
(:mod:`.store`), which records count: signatures, allowed signers, four-eyes (:mod:`.trust`),
and diffs against what was approved (:mod:`.diff`). Uses adapters (git, nbdime, notebooks,
sshsig) and :mod:`nbgov.services.pipeline`; no other domain.
"""
