"""Adapters: the only modules that import third-party tool APIs (ploomber, papermill, mlflow,
nbdime, jupytext, git). Each keeps one tool behind a small nbgov-shaped interface."""
