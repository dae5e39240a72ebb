"""Adapters: the only modules that import third-party tool APIs (ploomber, papermill, mlflow,
nbdime, jupytext, git). Each keeps one tool behind a small nbgov-shaped interface."""

from nbgov.adapters._deferred import defer_rfc3987_syntax as _defer_rfc3987_syntax

# before any adapter imports nbformat (and with it jsonschema): saves ~1 s of CPU per process
_defer_rfc3987_syntax()
