"""``nbgov check``: policy and hygiene rules over notebooks, the spec and the project.

Owns: which files are checked (:mod:`.files`), the rule engine's run over them (:mod:`.engine`), and the
sources the pipeline names, read without running it (:mod:`.sources`). Uses
:mod:`nbgov.services.review` (review-state rules) and :mod:`nbgov.services.pipeline`.
"""
