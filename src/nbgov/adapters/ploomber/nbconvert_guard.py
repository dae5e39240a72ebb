"""nbconvert looks for its templates in the working folder first: ``TemplateExporter``'s
``extra_template_basedirs`` defaults to ``[os.getcwd()]``, the project root during a build. A
notebook task with an ``.html`` (or ``.md``, ``.tex``...) product is converted in nbgov's own
process, so a ``lab/index.html.j2`` (or ``classic/``, ``base/``, ``markdown/``...; with a
``conf.json`` naming preprocessors to import) that a pull request adds to the project would be
rendered there, unsandboxed Jinja with the tracking credentials at hand, without being named
anywhere a reviewer looks (docs/security.md, R4).

:func:`install` makes that default empty: templates come from nbconvert's own folders, the
Jupyter data folders of the environment, and what a task's ``nbconvert_export_kwargs`` names
(which the review closure covers, :mod:`nbgov.services.review.nbconvert_files`).
"""

from __future__ import annotations


def _no_working_folder(_exporter) -> list[str]:
    return []


def install() -> None:
    """Make nbconvert's template search skip the working folder, in this process (idempotent)."""
    from nbconvert.exporters.templateexporter import TemplateExporter  # (with Ploomber, lazily)

    # the handler object is shared by every exporter class (HTML, Markdown, LaTeX, ...), including
    # ones defined later: replacing its function changes the default for all of them
    TemplateExporter.__dict__["_default_extra_template_basedirs"].func = _no_working_folder
