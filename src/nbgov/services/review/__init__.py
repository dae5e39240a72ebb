"""Review: who approved which version of each review target, and whether that counts.

Owns: the review status of notebooks and other targets and the gate on them (:mod:`.state`),
which files are targets: the pipeline's review closure (:mod:`.targets`) and what
``review status`` surveys (:mod:`.discovery`), the ledger and snapshots on disk and the settings
that place them (:mod:`.store`), which records count: signatures, allowed signers, four-eyes
(:mod:`.trust`), the trust settings read at a base revision (:mod:`.base`), ledger checks and
merges (:mod:`.verify`), and diffs against what was approved (:mod:`.diff`). Uses adapters
(git, nbdime, notebooks, sshsig, the Ploomber adapter's spec reader) and
:mod:`nbgov.services.pipeline`; no other domain.
"""
