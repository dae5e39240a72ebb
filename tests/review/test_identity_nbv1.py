"""The notebook version (nbv1): what changes it and what does not, on real fixture files and
under hypothesis."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbgov.adapters.notebooks import read_notebook
from nbgov.core.identity import canonical_bytes, notebook_version, short_version

NOTEBOOKS = Path(__file__).parent / "notebooks"


def version_of(name: str) -> str:
    return notebook_version(read_notebook(NOTEBOOKS / name))


def test_twins_and_copies_share_the_version():
    base = version_of("train.ipynb")
    assert version_of("train.py") == base  # py:percent twin
    assert version_of("train--executed.ipynb") == base  # outputs, counts, ids, injected cell
    assert version_of("train--nbformat44-crlf.ipynb") == base  # 4.4, list sources, CRLF
    assert version_of("train--edited.ipynb") != base


def test_py_twin_with_windows_line_endings(tmp_path):
    crlf = tmp_path / "train.py"
    crlf.write_bytes((NOTEBOOKS / "train.py").read_bytes().replace(b"\n", b"\r\n"))
    assert notebook_version(read_notebook(crlf)) == version_of("train.ipynb")


def test_spec_as_written_in_the_readme():
    # recompute nbv1 from its documented definition, independently of the implementation
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"language": "Python"}},
        "cells": [
            {
                "cell_type": "code",
                "id": "x",
                "metadata": {"tags": ["parameters", "mine"]},
                "source": ["a = 1\n", "  \n"],
                "outputs": [],
                "execution_count": 3,
            }
        ],
    }
    doc = (
        '{"algorithm":"nbv1","cells":[{"source":"a = 1","tags":["parameters"],"type":"code"}],'
        '"language":"python"}'
    )
    assert canonical_bytes(nb) == doc.encode()
    assert notebook_version(nb) == "nbv1:" + hashlib.sha256(doc.encode()).hexdigest()


@pytest.mark.parametrize(
    "change, same",
    [
        (lambda nb: nb["cells"][2]["metadata"]["tags"].remove("parameters"), False),
        (lambda nb: nb["cells"][2]["metadata"]["tags"].append("raises-exception"), False),
        (lambda nb: nb["cells"][4]["metadata"]["tags"].clear(), False),  # skip-execution
        (lambda nb: nb["metadata"]["kernelspec"].update(language="R"), False),
        (lambda nb: nb["cells"].reverse(), False),
        (lambda nb: nb["cells"][0].update(cell_type="raw"), False),
        (lambda nb: nb["cells"][2]["metadata"]["tags"].append("hide-input"), True),
        (lambda nb: nb["metadata"]["kernelspec"].update(name="py311", display_name="Py"), True),
        (lambda nb: nb["metadata"].update(widgets={"state": {}}), True),
        (lambda nb: nb["cells"][3].update(source=nb["cells"][3]["source"] + "\n\n  \n"), True),
        (
            lambda nb: nb["cells"].append(
                {
                    "cell_type": "markdown",
                    "metadata": {"tags": ["papermill-error-cell-tag"]},
                    "source": "An Exception was encountered",
                }
            ),
            True,
        ),
    ],
)
def test_what_changes_the_version(change, same):
    nb = read_notebook(NOTEBOOKS / "train.ipynb")
    changed = copy.deepcopy(nb)
    change(changed)
    assert (notebook_version(changed) == notebook_version(nb)) is same


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_outputs = st.lists(
    st.fixed_dictionaries(
        {
            "output_type": st.just("stream"),
            "name": st.sampled_from(["stdout", "stderr"]),
            "text": _text,
        }
    ),
    max_size=3,
)


@st.composite
def notebooks(draw):
    cells = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["code", "markdown", "raw"]))
        cell = {"cell_type": kind, "metadata": {}, "source": draw(_text)}
        if kind == "code":
            cell.update(
                outputs=draw(_outputs), execution_count=draw(st.none() | st.integers(1, 99))
            )
            if draw(st.booleans()):
                cell["metadata"]["tags"] = ["parameters"]
        cells.append(cell)
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "cells": cells,
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nb=notebooks(), data=st.data())
def test_output_only_changes_keep_the_version(nb, data):
    changed = copy.deepcopy(nb)
    for i, cell in enumerate(changed["cells"]):
        cell["id"] = f"cell-{i}-{data.draw(st.integers(0, 9))}"
        cell["metadata"]["collapsed"] = data.draw(st.booleans())
        if cell["cell_type"] == "code":
            cell["outputs"] = data.draw(_outputs)
            cell["execution_count"] = data.draw(st.none() | st.integers(1, 99))
    changed["metadata"]["language_info"] = {"name": "python", "version": "3.99"}
    assert notebook_version(changed) == notebook_version(nb)


def _meaningful(text: str) -> str:
    # nbv1 normalises line endings and trailing blank lines: an edit must survive that
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


@settings(max_examples=150, deadline=None)
@given(nb=notebooks(), data=st.data())
def test_any_source_change_changes_the_version(nb, data):
    index = data.draw(st.integers(0, len(nb["cells"]) - 1))
    old = nb["cells"][index]["source"]
    new = data.draw(_text.filter(lambda t: _meaningful(t) != _meaningful(old)))
    changed = copy.deepcopy(nb)
    changed["cells"][index]["source"] = new
    assert notebook_version(changed) != notebook_version(nb)


@settings(max_examples=40, deadline=None)
@given(nb=notebooks())
def test_nbformat_list_sources_and_crlf_keep_the_version(nb):
    as_lists = json.loads(json.dumps(nb))
    for cell in as_lists["cells"]:
        if cell["cell_type"] == "code":  # list sources; a code cell's CRs are part of it
            cell["source"] = cell["source"].splitlines(keepends=True)
        else:  # and a markdown cell's line-ending style is not
            lf = cell["source"].replace("\r\n", "\n").replace("\r", "\n")
            cell["source"] = lf.replace("\n", "\r\n").splitlines(keepends=True)
        cell.pop("id", None)
    as_lists["nbformat_minor"] = 4
    assert notebook_version(as_lists) == notebook_version(nb)


_py_line = st.from_regex(r"[a-z_][a-z0-9_]{0,8} = [0-9]{1,3}", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(
    cells=st.lists(
        st.tuples(
            st.sampled_from(["code", "markdown"]),
            st.lists(_py_line, min_size=1, max_size=4),
            st.booleans(),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_py_percent_twin_round_trip(cells, tmp_path_factory):
    import jupytext
    import nbformat

    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        }
    )
    for kind, lines, tagged in cells:
        if kind == "code":
            cell = nbformat.v4.new_code_cell("\n".join(lines))
            if tagged:
                cell.metadata["tags"] = ["parameters"]
        else:
            cell = nbformat.v4.new_markdown_cell("\n".join(f"Set {line}" for line in lines))
        nb.cells.append(cell)
    folder = tmp_path_factory.mktemp("twin")
    (folder / "nb.py").write_text(jupytext.writes(nb, fmt="py:percent"))
    (folder / "nb.ipynb").write_text(nbformat.writes(nb))
    assert notebook_version(read_notebook(folder / "nb.py")) == notebook_version(
        read_notebook(folder / "nb.ipynb")
    )


def test_short_version_is_the_first_twelve_hex_digits():
    version = "nbv1:" + "0123456789abcdef" * 4
    assert short_version(version) == "0123456789ab"
    assert short_version(version, 4) == "0123"
    assert short_version("0123456789abcdef") == "0123456789ab"  # no scheme prefix
    assert short_version("nbv1:ab:cd") == "ab:cd"  # only the scheme is dropped


def test_canonical_bytes_of_a_small_notebook_exactly():
    """The nbv1 input, byte for byte: ledgers store versions, so this form must never drift
    (found by `make mutate`: a changed line separator or dropped separator options survived)."""
    nb = {"metadata": {"kernelspec": {"language": "Python"}, "language_info": {"name": "R"}},
          "cells": [
              {"cell_type": "code", "source": ["x = 1\r\n", "y = 'é'\r\n", "\n", "  \n"],
               "metadata": {"tags": ["parameters", "slow", 3]}},
              {"cell_type": "markdown", "source": "# Title\rtext", "metadata": "not a dict"},
              {"source": "", "metadata": {"tags": ["injected-parameters"]}},
              {"metadata": {}},
          ]}
    expected = ('{"algorithm":"nbv1","cells":['
                '{"source":"x = 1\\r\\ny = \'é\'\\r","tags":["parameters"],"type":"code"},'
                '{"source":"# Title\\ntext","tags":[],"type":"markdown"},'
                '{"source":"","tags":[],"type":"code"}],"language":"python"}')
    assert canonical_bytes(nb) == expected.encode("utf-8")
    assert notebook_version(nb) == "nbv1:" + hashlib.sha256(expected.encode("utf-8")).hexdigest()
    # the language: the kernelspec's, else language_info's, else python
    assert b'"language":"r"' in canonical_bytes({"metadata": {"language_info": {"name": "R"}}})
    assert b'"language":"python"' in canonical_bytes({"metadata": None, "cells": None})


def test_a_cr_in_a_code_cell_is_part_of_the_version():
    """Seventh attack round: `%%bash` reads a lone CR as part of its line, so the approved
    heredoc (data) and the same bytes with one LF turned CR (a command) must differ."""
    def nb(source: str, kind: str = "code") -> dict:
        return {"metadata": {}, "cells": [{"cell_type": kind, "source": source, "metadata": {}}]}

    data = "%%bash\ncat <<'EOF' > notes.txt\n;touch X\nEOF\n"
    assert notebook_version(nb(data)) != notebook_version(nb(data.replace("\n;touch", "\r;touch")))
    assert notebook_version(nb(data)) != notebook_version(nb(data.replace("\n", "\r\n")))
    assert notebook_version(nb("# T\ntext", "markdown")) == notebook_version(nb("# T\r\ntext", "markdown"))
    # eighth round: a trailing line bash runs (U+3000, form feed, CR) is not blank in a code cell
    for tail in ("\u3000", "\x0c", "\r", "\xa0"):
        assert notebook_version(nb("%%bash\necho hi")) != notebook_version(nb(f"%%bash\necho hi\n{tail}")), repr(tail)
    assert notebook_version(nb("%%bash\necho hi")) == notebook_version(nb("%%bash\necho hi\n \t\n"))
    assert notebook_version(nb("# T", "markdown")) == notebook_version(nb("# T\n\u3000", "markdown"))
