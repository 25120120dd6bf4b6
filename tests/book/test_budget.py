"""Every chapter's notebook executed, and within its budget, in the last book build."""
import json
import re

import pytest

from .conftest import ROOT
from .test_pages import CHAPTERS

BUDGET_S = 60.0


@pytest.fixture(scope="module")
def times(html_dir):
    path = ROOT / "_build" / "execution_times.json"
    assert path.exists(), "the build wrote no execution_times.json (is kexue.sphinx enabled?)"
    return json.loads(path.read_text())


@pytest.mark.parametrize("doc", CHAPTERS)
def test_notebook_ran_within_budget(times, doc):
    assert doc in times, f"{doc} was not executed in the build"
    row = times[doc]
    assert row["succeeded"] is True
    assert row["seconds"] is not None and row["seconds"] < BUDGET_S, f"{doc}: {row['seconds']:.1f} s"


def test_the_build_log_has_no_warning_line(html_dir):
    """`make book` tees its log to _build/build.log: not one line of it may warn (kernel starts
    included), so a new warning is seen the day it appears."""
    log = ROOT / "_build" / "build.log"
    if not log.exists():
        pytest.skip("no _build/build.log: the book was not built by `make book`")
    warning = re.compile(r"\bWARNING\b|\b[A-Za-z]*Warning:|\bwarn(ing)?:", re.IGNORECASE)
    warnings = [line for line in log.read_text().splitlines()
                if warning.search(line) and not line.lstrip().startswith(("\x1b[01mmyst", "myst"))]
    assert not warnings, "\n".join(warnings[:20])
