"""Recording builds durably: a journal first, the tracking store second, ``nbgov sync`` between.

- :mod:`.recorder`: the observer of a running build (task started / finished).
- :mod:`.rundata`: what one task run records.
- :mod:`.sender`: idempotent sending of journaled events to the store.
- :mod:`.uploader`: the upload process that sends while the build runs.
- :mod:`.sync`: ``nbgov sync``: send what earlier builds could not, end runs left RUNNING.
- :mod:`.tracking`: params as MLflow strings, and the parent run of a shared build.

Uses :mod:`nbgov.services.review` (review status at run time), :mod:`nbgov.services.lineage`
(model versions tagged with their lineage) and adapters; never :mod:`nbgov.services.build`.
"""
