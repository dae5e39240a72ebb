"""MLflow behind one door: the tracking store, the model registry and lineage kept there.

- :mod:`.tracker`: runs of a build in a tracking store (:class:`Tracker`), found by run key.
- :mod:`.registry`: registered models, versions, aliases, and the scoring server.
- :mod:`.lineage_store`: lineage records read back from the store.
- :mod:`.stores`: is a store there and sound, without importing MLflow.

MLflow itself is imported inside these modules only when a store is used: importing this
package costs no MLflow import.
"""
