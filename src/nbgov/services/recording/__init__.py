"""Recording builds durably: a journal first, the tracking store second, ``nbgov sync`` between.

- :mod:`.recorder`: the observer of a running build (task started / finished).
- :mod:`.rundata`: what one task run records.
- :mod:`.sender`: idempotent sending of journaled events to the store.
- :mod:`.sync`: ``nbgov sync``: send what earlier builds could not, end runs left RUNNING.
"""
