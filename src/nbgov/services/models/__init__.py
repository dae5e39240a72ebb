"""Models after training: promotion through the gate, serving, and monitoring in production.

Owns: ``nbgov promote`` and its gate (:mod:`.promote`), the promotion ledger
(:mod:`.promotions`), ``nbgov serve`` (:mod:`.serve`) and ``nbgov monitor`` (:mod:`.monitor`,
which runs the pipeline's monitor task through :mod:`nbgov.services.build`). Uses build,
recording, review and lineage.
"""
