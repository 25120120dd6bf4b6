"""Helpers for the chapters' notebooks: the Colab bootstrap cell, showing source, the profile note."""
from __future__ import annotations

import inspect

#: The book's repository; ``_config.yml`` states the same URL (a test keeps them in step).
REPOSITORY = "https://github.com/kexue-book/kexue"

#: The first cell of every chapter: on Colab it installs ``kexue`` from the repository; elsewhere
#: (Binder, a local Jupyter, the book build) it does nothing. Tagged ``remove-cell``: the notebook
#: keeps it, the book's HTML does not show it.
BOOTSTRAP = f"""# Colab bootstrap: on Colab, install the book's package `kexue`; elsewhere nothing.
import subprocess
import sys

try:
    import google.colab  # noqa: F401

    ON_COLAB = True
except ImportError:
    ON_COLAB = False
if ON_COLAB:
    package = "kexue @ git+{REPOSITORY}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)"""


def show_source(obj) -> "IPython.display.Code":  # noqa: F821
    """Display the source of a ``kexue`` function or class, so the reader sees the real code."""
    from IPython.display import Code

    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise TypeError(f"cannot show the source of {obj!r}: {err}") from None
    return Code(source, language="python")


def table(header: list[str], rows: list[list], *, digits: int = 4) -> "IPython.display.HTML":  # noqa: F821
    """An HTML table (numbers to ``digits`` significant figures), e.g. our numbers beside the post's."""
    import html

    from IPython.display import HTML

    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row must have {len(header)} cells, like the header")

    def cell(value):
        if isinstance(value, float):
            return f"{value:.{digits}g}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return HTML(f'<table class="kx-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def profile_note(experiment: str | None = None) -> "IPython.display.Markdown":  # noqa: F821
    """A line saying which profile and device produced this page's outputs, and where the full run is."""
    from IPython.display import Markdown

    from . import experiments, runtime

    prof, dev = runtime.profile(), runtime.provenance()["device_name"]
    text = f"*Outputs on this page were produced in the **{prof}** profile on {dev}.*"
    if experiment:
        results = experiments.results_dir()
        if runtime.checkout() is None:  # an installed package (Colab): the records live in the book
            where = "the book's appendix Reproduced results lists the committed records"
        elif (results / f"{experiment}.json").exists():
            where = "its record is in the appendix [Reproduced results](../../appendix/results.md)"
        else:
            where = "no full-profile record has been committed yet"
        text += (f" *The full run is `python -m kexue reproduce {experiment} --profile full`; "
                 f"{where}.*")
    return Markdown(text)
