"""Notebook hygiene: no outputs, the bootstrap cell, the table of contents, each chapter's post."""
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import nbformat
import pytest
import yaml

from kexue import notebook, sphinx

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "chapters").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
SOURCES = ROOT.parent / "shared" / "sources"  # beside the checkout on the project's machines
POST_LINK = re.compile(r"https://spaces\.ac\.cn/archives/(\d+)")


def toc_files():
    return sphinx.book_documents(ROOT / "_toc.yml")


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page_column(path):
    """The HTML shows code in a column about 88 characters wide. `ruff format` keeps code to the
    chapters' line-length but leaves long strings and comments alone, so every line is checked."""
    limit = tomllib.loads((ROOT / "chapters" / "ruff.toml").read_text())["line-length"]
    nb = nbformat.read(path, as_version=4)
    long = [f"{path.name}, cell {i}, line {j}: {len(line)} > {limit} characters: {line.strip()}"
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for j, line in enumerate(cell.source.splitlines(), start=1) if len(line) > limit]
    assert not long, "\n".join(long)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_is_the_bootstrap(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "code" and first.source == notebook.BOOTSTRAP
    assert first.metadata.get("tags") == ["remove-cell"], "the book's HTML hides the bootstrap"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_names_and_links_its_post(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert len(re.findall(r"^# ", text, re.M)) == 1, "exactly one H1 title"
    follows = [line for line in text.splitlines() if line.startswith("**Follows:**")]
    assert follows, f"{path.name} has no '**Follows:**' line"
    titles = re.findall(r"《[^》]+》", follows[0])
    glossed = re.findall(r"《[^》]+》 \(“.+?”\)", follows[0])
    assert titles and len(glossed) == len(titles), f"{path.name}: a Chinese title without an English one"
    ids = POST_LINK.findall(follows[0])
    assert ids, f"{path.name}: the Follows line links no post"
    if SOURCES.is_dir():
        for post in ids:
            assert (SOURCES / f"{post}.md").exists(), f"post {post} is not among the sources"


def test_every_notebook_is_in_the_toc_and_every_entry_exists():
    listed = toc_files()
    for entry in listed:
        candidates = [ROOT / f"{entry}{ext}" for ext in (".ipynb", ".md")]
        assert any(c.exists() for c in candidates), f"_toc.yml lists {entry}, which does not exist"
    in_toc = {str(ROOT / f"{e}.ipynb") for e in listed}
    missing = [str(p.relative_to(ROOT)) for p in NOTEBOOKS if str(p) not in in_toc]
    assert not missing, f"notebooks missing from _toc.yml: {missing}"


def test_bootstrap_url_is_the_configured_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert notebook.REPOSITORY == config["repository"]["url"]


def run_bootstrap(monkeypatch, on_colab):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)))
    if on_colab:
        google = types.ModuleType("google")
        colab = types.ModuleType("google.colab")
        google.colab = colab
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", colab)
    else:
        monkeypatch.setitem(sys.modules, "google.colab", None)  # import fails, as off Colab
    exec(compile(notebook.BOOTSTRAP, "<bootstrap>", "exec"), {})
    return calls


def test_bootstrap_installs_kexue_on_colab(monkeypatch):
    calls = run_bootstrap(monkeypatch, on_colab=True)
    assert len(calls) == 1
    cmd, kwargs = calls[0]
    assert cmd[1:5] == ["-m", "pip", "install", "-q"]
    assert cmd[-1] == f"kexue @ git+{notebook.REPOSITORY}" and kwargs == {"check": True}


def test_bootstrap_does_nothing_elsewhere(monkeypatch):
    assert run_bootstrap(monkeypatch, on_colab=False) == []


def test_show_source_and_profile_note():
    from kexue import runtime

    code = notebook.show_source(runtime.seed_everything)
    assert "def seed_everything" in code.data
    with pytest.raises(TypeError, match="cannot show the source"):
        notebook.show_source(3)
    note = notebook.profile_note("no-such-experiment").data
    assert "**quick** profile" in note and "reproduce no-such-experiment --profile full" in note


def test_table_formats_numbers_and_escapes_text():
    out = notebook.table(["quantity", "ours", "post"], [["a<b", 0.123456789, 2]]).data
    assert "<th>quantity</th>" in out and "<td>a&lt;b</td>" in out
    assert "<td>0.1235</td>" in out and "<td>2</td>" in out
    with pytest.raises(ValueError, match="every row must have 3 cells"):
        notebook.table(["a", "b", "c"], [[1, 2]])


def test_profile_note_links_a_committed_record():
    records = sorted((ROOT / "results").glob("*.json"))
    if not records:
        pytest.skip("no committed records")
    note = notebook.profile_note(records[0].stem).data
    assert "[Reproduced results](../../appendix/results.md)" in note


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_says_what_it_builds_on_with_links_that_resolve(path):
    """The intro names the chapters it builds on (or says it builds on none), linked, so a reader
    can go back; every link is to a chapter of the book, listed in the table of contents."""
    intro = nbformat.read(path, as_version=4).cells[1].source
    line = next((ln for ln in intro.splitlines() if ln.startswith("**Builds on:**")), None)
    assert line is not None, f"{path.name}: no '**Builds on:**' line in the intro"
    links = re.findall(r"\]\(([^)]+\.ipynb)\)", line)
    assert links or "nothing earlier" in line, f"{path.name}: {line}"
    listed = set(toc_files())
    for link in links:
        target = (path.parent / link).resolve()
        assert target.exists(), f"{path.name} links {link}, which does not exist"
        assert target.relative_to(ROOT).with_suffix("").as_posix() in listed, link


def test_intro_lists_the_parts_that_are_in_the_toc_in_order():
    """The intro's "What is in the book" names exactly the parts _toc.yml has, in its order, so
    it stays true as parts land."""
    intro = (ROOT / "intro.md").read_text()
    section = intro.split("## What is in the book", 1)[1].split("\n## ", 1)[0]
    listed = [link.removesuffix(".md") for link in re.findall(r"\]\(([^)]+\.md)\)", section)]
    parts = [doc for doc in toc_files() if doc.endswith("/index")]
    assert parts and listed == parts


@pytest.mark.parametrize("part", [d for d in toc_files() if d.endswith("/index")])
def test_each_part_page_lists_its_chapters_in_toc_order(part):
    """A part's landing page names its chapters in the order _toc.yml reads them."""
    folder = part.rsplit("/", 1)[0]
    text = (ROOT / f"{part}.md").read_text()
    linked = [f"{folder}/{name}" for name in re.findall(r"^\d+\. \[[^\]]+\]\(([\w-]+)\.ipynb\)", text, re.M)]
    chapters = [doc for doc in toc_files() if doc.startswith(folder + "/") and doc != part]
    assert linked == chapters
    for heading in ("**What it covers.**", "**What it assumes.**", "**The order of its chapters.**"):
        assert heading in text, f"{part} has no {heading}"


BIB = ROOT / "references.bib"
BIB_KEY = re.compile(r"@\w+\{([^,]+),")
CITE_ROLE = re.compile(r"\{cite(?::\w+)?\}`([^`]*)`")
WELL_FORMED_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`[a-z0-9]+(?:,[a-z0-9]+)*`")
# A work cited by hand instead of with a {cite:...} role: "Kunin et al., 2019", "Wen et al. (2016)",
# "Baldi and Hornik, 1989", "(Tishby, 1999)", or a reading-list item that starts with the authors'
# initials and goes on to a quoted or italic title ("* D. P. Kingma and J. Ba, "Adam: ...", ICLR").
# Software credited to its author ("* P. Brodersen, `entropy_estimators`, <url>") is not a citation.
PLAIN_CITATION = [
    re.compile(r"\b[A-Z][a-z]+ et al\.,?\s+\(?(?:19|20)\d\d\b"),
    re.compile(r"\b[A-Z][a-z]+ and [A-Z][a-z]+,?\s+\(?(?:19|20)\d\d\b"),
    re.compile(r"\([A-Z][a-z]+,\s+(?:19|20)\d\d\)"),
    re.compile(r'^[ \t]*(?:[*-]|\d+\.)[ \t]+(?:[A-ZÅ]\.[ \t-]*)+[A-Z][^"*\n]*(?:\n[ \t]+[^"*\n]*)?["*]',
               re.M),
]


def book_markdown():
    """(name, text) for the chapters' markdown cells and the book's own .md pages."""
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        yield path.name, "\n\n".join(c.source for c in cells if c.cell_type == "markdown")
    pages = [ROOT / "intro.md", *sorted((ROOT / "appendix").glob("*.md")),
             *sorted((ROOT / "chapters").glob("*/index.md"))]
    for path in pages:
        yield path.relative_to(ROOT).as_posix(), path.read_text()


def cited_keys(text):
    return [key.strip() for keys in CITE_ROLE.findall(text) for key in keys.split(",")]


def plain_citations(text):
    """Hand-written citations in markdown; the Follows line (Su Jianlin's posts) is not one."""
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("**Follows:**"))
    return [m.group(0).strip() for pattern in PLAIN_CITATION for m in pattern.finditer(text)]


def test_every_citation_is_in_the_bibliography_and_every_entry_is_cited():
    entries = BIB_KEY.findall(BIB.read_text(encoding="utf-8"))
    assert len(entries) == len(set(entries)), "a key is defined twice in references.bib"
    assert entries == sorted(entries), "references.bib is kept sorted by key"
    cited = {}
    for name, text in book_markdown():
        for key in cited_keys(text):
            cited.setdefault(key, name)
    unknown = {key: name for key, name in cited.items() if key not in entries}
    assert not unknown, f"cited but not in references.bib: {unknown}"
    dead = sorted(set(entries) - set(cited))
    assert not dead, f"in references.bib but cited nowhere: {dead}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_cites_with_roles_not_by_hand(path):
    text = "\n\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                       if c.cell_type == "markdown")
    assert not plain_citations(text), f"{path.name}: cite with {{cite:t}}`key` or {{cite:p}}`key`"
    roles = re.findall(r"\{cite[^}]*\}\s*`[^`]*`", text)
    bad = [role for role in roles if not WELL_FORMED_ROLE.fullmatch(role)]
    assert not bad, f"{path.name}: malformed citation roles {bad}"


def test_plain_citation_patterns_catch_hand_written_citations():
    caught = [
        "recovers the $v_i$ (Kunin et al., 2019).",
        "the centre loss of Wen et al. (2016): each class",
        "SN-GAN (Miyato et al.,\n2018) keeps",
        "```{prf:theorem} Baldi and Hornik, 1989",
        "the information bottleneck principle (Tishby, 1999) asks",
        "* D. P. Kingma and J. Ba, \"Adam: a method for stochastic optimization\", *ICLR* 2015.",
        "3. R. A. Horn and C. R. Johnson, *Matrix Analysis*, 2nd ed.",
        "* Å. Björck and G. H. Golub, \"Numerical methods\", 1973.",
    ]
    for text in caught:
        assert plain_citations(text), text
    passed = [
        "recovers the $v_i$ {cite:p}`kunin2019loss`.",
        "the centre loss of {cite:t}`wen2016discriminative`: each class",
        "**Follows:** 《SVD分解》 (“SVD, part 1”), Su Jianlin, 2017-01-15, <https://spaces.ac.cn/archives/1>",
        "* Su Jianlin, 《变分自编码器》, *Scientific Spaces*, 2018, <https://spaces.ac.cn/archives/1>.",
        "* SciPy, `solve_ivp` and `brentq`: <https://docs.scipy.org/doc/scipy/reference/>.",
        "Eckart–Young says where the global minimum is; Cauchy–Binet and Sherman–Morrison too.",
        "between 1000 and 2000 images, trained for 20 epochs (seed 2019)",
        "* P. Brodersen, `entropy_estimators`, <https://github.com/paulbrodersen>.",
        "- R. T. Q. Chen, torchdiffeq (fixed-step Euler): <https://github.com/rtqichen>.\n- SciPy",
    ]
    for text in passed:
        assert not plain_citations(text), text
    keys = cited_keys("as {cite:t}`a2019x` and {cite:p}`b2020y,c2021z` show")
    assert keys == ["a2019x", "b2020y", "c2021z"]
    assert not WELL_FORMED_ROLE.fullmatch("{cite:t} `a2019x`")
    assert not WELL_FORMED_ROLE.fullmatch("{cite:p}`a2019x, b2020y`")


# Figures: a code cell that shows an image carries myst-nb's figure options in its metadata,
# {"mystnb": {"figure": {"caption": ..., "name": "fig-..."}}}, and the text cites it by number.
NUMREF = re.compile(r"\{numref\}`(?:[^`]*<)?([^`<>]+)>?`")


def figures(path):
    """The figure options of the notebook's cells, in order."""
    nb = nbformat.read(path, as_version=4)
    return [c.metadata["mystnb"]["figure"] for c in nb.cells
            if isinstance(c.metadata.get("mystnb"), dict) and "figure" in c.metadata["mystnb"]]


def numrefs(path):
    nb = nbformat.read(path, as_version=4)
    return NUMREF.findall("\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))


def book_figure_names():
    return [f.get("name") for path in NOTEBOOKS for f in figures(path)]


def test_figure_names_are_unique_across_the_book():
    names = book_figure_names()
    assert names, "no figures in the book"
    bad = [n for n in names if not (isinstance(n, str) and n.startswith("fig-"))]
    assert not bad, f"figure names must start with 'fig-': {bad}"
    repeated = sorted({n for n in names if names.count(n) > 1})
    assert not repeated, f"figure names used more than once: {repeated}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_has_a_caption_and_is_referred_to_by_number(path):
    cited = set(numrefs(path))
    for figure in figures(path):
        name, caption = figure.get("name"), figure.get("caption")
        assert isinstance(caption, str) and caption.strip(), f"{path.name}: {name} has no caption"
        assert name in cited, f"{path.name}: no {{numref}}`{name}` in the text"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_numref_names_a_figure_of_the_book(path):
    known = set(book_figure_names())
    unknown = [name for name in numrefs(path) if name not in known]
    assert not unknown, f"{path.name} refers to figures that do not exist: {unknown}"
