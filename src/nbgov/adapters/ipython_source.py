"""Code as the Jupyter tools read it before they run it: a ``.py`` script split into cells the
way Ploomber does (jupytext, magics in comments restored), and a cell transformed by IPython's
own input transformer (``%magic``, ``!shell``, ``x = %magic``, ``obj?``, ``>>>`` prompts, an
indented cell) into the Python the kernel runs. Both tools are imported lazily (the review
closure needs them; ``nbgov --help`` does not).
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from typing import Any


def decode_python(data: bytes) -> str:
    """Python source bytes as Python decodes them (a UTF-8 BOM, a ``coding:`` cookie, universal
    newlines); raises ``SyntaxError`` or ``UnicodeDecodeError`` when Python would not import it."""
    return importlib.util.decode_source(data)


def script_cells(text: str) -> list[str] | None:
    """The code cells of a ``.py`` script as Ploomber runs it (``jupytext.reads(text, fmt="py")``:
    py:percent, light..., commented magics such as ``# %run x.py`` made magics again); None
    when jupytext cannot read it."""
    import jupytext  # lazy: importing jupytext costs ~0.3 s, only the review closure needs it

    try:
        nb: Any = jupytext.reads(text, fmt="py")
    except Exception:  # jupytext raises many kinds; the caller reads the file as plain Python
        return None
    return [str(c.get("source", "")) for c in nb.get("cells", []) if c.get("cell_type") == "code"]


#: A cell marker with jupytext's ``active`` metadata (``# %% active="ipynb"``, ``# + {"active": ...}``):
#: the cell's code is commented out in the script and uncommented in the notebook.
_ACTIVE = re.compile(r"^[ \t]*#[ \t]*(%%|\+|-).*active", re.MULTILINE)


def comments_may_run(text: str) -> bool:
    """Whether jupytext may turn a comment of this script into code: a commented magic
    (``# %run x.py``, ``# !cmd``, jupytext's own test) or an inactive cell (``active=``
    metadata). When not, the notebook it makes runs the code the text holds as Python."""
    from jupytext.magics import is_magic  # lazy: see script_cells

    if _ACTIVE.search(text):
        return True
    return any(line.lstrip().startswith("#") and is_magic(line, "python") for line in text.splitlines())


@lru_cache(maxsize=1)
def _manager() -> Any:
    # lazy: IPython is a kernel-side dependency, only the review closure reads cells with it
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def transform_cell(source: str) -> str | None:
    """``source`` as IPython's kernel turns it into Python before it parses it; None when
    IPython cannot transform it."""
    try:
        return str(_manager().transform_cell(source))
    except Exception:  # IPython's transformers raise on malformed input (tokenize errors...)
        return None
