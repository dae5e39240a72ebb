"""Services: the use cases, one package per domain, each combining core objects and adapters.

    build/      nbgov build, nbgov status: load, gate, run, the no-op fast path, clusters
    models/     promote, the promotion ledger, serve, monitor
    export/     the pipeline as an Airflow, Argo or Kubeflow workflow
    recording/  the journal, the upload process, nbgov sync
    check/      nbgov check
    lineage/    lineage queries and their renderings
    review/     review state, the ledger, trust, diffs
    pipeline/   the pipeline as data: the cached build plan, the server's data-only view

A domain uses only those listed below it (import-linter contract in pyproject.toml;
docs/development/index.md has the map).
"""
