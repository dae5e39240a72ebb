"""Lineage: which data, code and reviews made a product, a task run or a model version.

Owns: the query over lineage records, locally and in the tracking store, and the tags that tie
a registered model version to its lineage (:mod:`.query`); its renderings as text, Mermaid, dot,
SVG and PNG (:mod:`.render`). Uses :mod:`nbgov.services.pipeline` and adapters; no other domain.
"""
