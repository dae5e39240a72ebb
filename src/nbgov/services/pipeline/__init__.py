"""The pipeline as data, read without running project code.

Owns: the cached build plan, what the last rendering of the DAG produced, valid while its key
holds (:mod:`.plan`), and the pipeline's tasks and state from files only, for the Jupyter
server's read routes (:mod:`.data`). The lowest domain: it uses adapters and core only.
"""
