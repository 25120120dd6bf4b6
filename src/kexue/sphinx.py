"""A small Sphinx extension for the book (listed in ``_config.yml``).

* Drops the notebook execution cache, and marks every notebook for re-reading, when anything
  under ``src/kexue`` or ``results/`` changed since the last build: jupyter-cache keys on a
  notebook's own code cells and would otherwise keep outputs computed by an older package, or
  from an older full record and its published model.
* ``{kexue-results}``: a table of every registered experiment, with its record in
  ``results/NAME.json`` (our number beside the post's) or a visible "no record yet".
* Drops the ipywidgets state that notebook execution stores in each notebook: the book shows the
  static view of every kexue widget, which needs none of it (about 90 kB per explorer page).
* Removes repeated <script> entries from pages (a jupyter-book 1.x / Sphinx 7.4 quirk), MathJax
  from pages with no formula, the theme's 1.5 MB Font Awesome script (its CSS draws the icons) and,
  but on the search page, the search index.
* Starts the kernels that execute the notebooks with their log at errors only, so ipykernel does
  not warn at every kernel start that it talks to the build over TCP on localhost.
* ``{kexue-timings}``: each notebook's execution time, by chapter number and title in book order.
* After the build: prints each notebook's execution time and writes them to
  ``_build/execution_times.json`` (the budget test reads it).
* :func:`book_documents`: the book's documents in reading order, from ``_toc.yml``.
* Registers the citation style ``author_year_round``: "(Jiang et al., 2017)", not "[...]".
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
STAMP = "kexue-src.sha256"


def book_documents(toc: str | Path) -> list[str]:
    """Every document ``_toc.yml`` lists (root, part pages, their sections), in reading order."""
    import yaml

    tree = yaml.safe_load(Path(toc).read_text())
    order = [tree["root"]]

    def walk(entries):
        for entry in entries:
            order.append(entry["file"])
            walk(entry.get("sections", []))

    for part in tree.get("parts", [{"chapters": tree.get("chapters", [])}]):
        walk(part["chapters"])
    return order


def package_source(confdir: str | Path) -> Path:
    """``src/kexue`` of the book's checkout, else the installed package."""
    local = Path(confdir) / "src" / "kexue"
    if local.is_dir():
        return local
    import kexue

    return Path(kexue.__file__).resolve().parent


def source_digest(folder: Path) -> str:
    """SHA-256 over the relative paths and contents of the package's files (caches excluded)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _cache_path(app) -> Path:
    configured = app.config.nb_execution_cache_path
    return Path(configured) if configured else Path(app.outdir).parent / ".jupyter_cache"


def _drop_stale_cache(app) -> None:
    cache = _cache_path(app)
    stamp = cache.parent / STAMP
    results = Path(app.confdir) / "results"
    digest = source_digest(package_source(app.confdir))
    if results.is_dir():
        digest = hashlib.sha256((digest + source_digest(results)).encode()).hexdigest()
    previous = stamp.read_text().strip() if stamp.exists() else None
    app.kexue_source_changed = previous != digest
    app.kexue_source_stamp = (stamp, digest)
    if app.kexue_source_changed and cache.exists():
        logger.info(f"kexue: src/kexue or results/ changed since the last build; dropping {cache}")
        shutil.rmtree(cache)


def _stamp_source(app, exception) -> None:
    """Record the package digest only once a build has succeeded: a build that stops half-way
    must not let the next one keep pages executed by the older package."""
    if exception is None and hasattr(app, "kexue_source_stamp"):
        stamp, digest = app.kexue_source_stamp
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n")


def _outdated(app, env, added, changed, removed):
    """Docs to re-read: every notebook when the package changed, and the results page always."""
    redo = [doc for doc in env.found_docs if doc.endswith("results")]
    if getattr(app, "kexue_source_changed", False):
        redo += [doc for doc in env.found_docs
                 if env.doc2path(doc, base=False).endswith(".ipynb")]
    return [doc for doc in redo if doc not in added and doc not in changed]


def results_rows(folder: Path, registered: list[str]) -> list[list[str]]:
    """One row per registered experiment (and per record of an experiment no longer registered):
    name, what the headline measures, ours (rounded to its resolution), the post's, the run
    (profile, device, minutes, date), and a note where ours falls short of the post; "no record
    yet" where no ``folder/NAME.json`` exists."""
    from . import experiments

    records = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    known = set(experiments.names())
    rows = []
    for name in sorted(set(registered) | set(records)):
        spec = experiments.get(name) if name in known else None
        headline = spec.headline if spec is not None else None
        label = headline.label if headline else (records[name]["metric"] if name in records else "—")
        rec = records.get(name)
        if rec is None:
            rows.append([name, label, "no record yet", _reference(spec.reference if spec else None), "—", ""])
            continue
        ours = rec["metrics"].get(rec["metric"])
        ref = rec.get("reference") or {}
        show = headline.format if headline else str
        gap = headline.shortfall(ours, ref.get("value")) if headline and ref else None
        note = f"short of the reference by {show(gap)}" if gap is not None else ""
        run = (f"{rec['profile']}, {rec['provenance']['device_name']}, "
               f"{rec['wall_time_s'] / 60:.0f} min, {rec['provenance']['date'][:10]}")
        rows.append([rec["experiment"], label, show(ours), _reference(ref), run, note])
    return rows


def _reference(ref) -> str:
    """The post's number as the post gives it, and where it says so."""
    if not ref:
        return "—"
    value, where = (ref.get("value"), ref.get("where")) if isinstance(ref, dict) else (ref.value, ref.where)
    return f"{value} ({where})"


def experiment_chapters(root: Path, names: list[str]) -> dict[str, str]:
    """The first chapter, in book order, whose notebook names each experiment."""
    found = {}
    for doc in book_documents(root / "_toc.yml"):
        path = root / f"{doc}.ipynb"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            for name in names:
                if f'\\"{name}\\"' in text:
                    found.setdefault(name, doc)
    return found


class ResultsTable(SphinxDirective):
    """``{kexue-results}``: one row per registered experiment, from its ``results/NAME.json``, its
    name linking to the chapter that runs it."""

    has_content = False

    def run(self):
        from . import experiments

        root = Path(self.env.srcdir)
        folder = root / "results"
        for path in sorted(folder.glob("*.json")):
            self.env.note_dependency(str(path))
        names = experiments.names()
        chapters = experiment_chapters(root, names)
        header = ["Experiment", "Headline number", "Ours", "The post's (or paper's)", "Run", "Note"]
        table = _table(header, classes=["kexue-results"])
        body = table[0][-1]
        for cells in results_rows(folder, names):
            row = _row(cells)
            name = cells[0]
            if name in chapters:
                link = addnodes.pending_xref("", refdoc=self.env.docname, reftarget="/" + chapters[name],
                                             reftype="doc", refdomain="std", refexplicit=False,
                                             classes=["xref", "doc"])
                link += nodes.inline(text=chapters[name])
                row[0][0] += [nodes.Text(" in "), link]
            post = experiments.get(name).post if name in names else None
            if post is not None:
                row[0][0] += nodes.reference("", f" (post {post})",
                                             refuri=f"https://spaces.ac.cn/archives/{post}")
            body += row
        return [table]


class TimingsNode(nodes.General, nodes.Element):
    """Placeholder for the timings table, filled in once every notebook has been executed."""


class TimingsTable(SphinxDirective):
    """``{kexue-timings}``: each executed notebook's run time, as "2.3 Title", in book order."""

    has_content = False

    def run(self):
        from myst_nb.ext.execution_tables import METADATA_KEY as TABLE_KEY
        from myst_nb.sphinx_ import NbMetadataCollector

        # marked like myst-nb's own table, so the page is rebuilt whenever a notebook re-executes
        NbMetadataCollector.set_doc_data(self.env, self.env.docname, TABLE_KEY, True)
        return [TimingsNode()]


def timing_rows(order: list[str], exec_data: dict, numbers: dict, titles: dict) -> list[tuple]:
    """``(doc, "2.3 Title", seconds, succeeded)`` for each executed document, in book order."""
    rows = []
    for doc in order:
        data = exec_data.get(doc)
        if not data:
            continue
        number = ".".join(map(str, numbers.get(doc, ())))
        rows.append((doc, f"{number} {titles.get(doc, doc)}".strip(), data.get("runtime"),
                     data.get("succeeded")))
    return rows


class _FillTimings(SphinxPostTransform):
    default_priority = 8  # before references are resolved

    def run(self, **kwargs) -> None:
        from myst_nb.sphinx_ import NbMetadataCollector

        placeholders = list(self.document.findall(TimingsNode))
        if not placeholders:  # every page but the timings appendix: nothing to gather
            return
        env = self.env
        data = {doc: meta.get("exec_data") for doc, meta in NbMetadataCollector.get_doc_data(env).items()}
        numbers = {doc: nums.get("", ()) for doc, nums in env.toc_secnumbers.items()}
        titles = {doc: title.astext() for doc, title in env.titles.items()}
        order = book_documents(Path(env.srcdir) / "_toc.yml")
        for node in placeholders:
            table = _table(["Chapter", "Run time (s)", "Succeeded"], classes=["kexue-timings"])
            body = table[0][-1]
            for doc, label, seconds, ok in timing_rows(order, data, numbers, titles):
                link = addnodes.pending_xref("", refdoc=env.docname, reftarget="/" + doc, reftype="doc",
                                             refdomain="std", refexplicit=True, classes=["xref", "doc"])
                link += nodes.inline(text=label)
                body += _row([link, "—" if seconds is None else f"{seconds:.1f}",
                              "yes" if ok else "no"])
            node.replace_self(table)


def _table(header: list[str], *, classes: list[str]) -> nodes.table:
    """A table node with ``header`` and an empty body (``table[0][-1]``) to append rows to."""
    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(header))
    table += group
    group += [nodes.colspec(colwidth=1) for _ in header]
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body
    head += _row(header)
    return table


def _row(cells) -> nodes.row:
    """A table row; each cell is text or a node to put in a paragraph."""
    row = nodes.row()
    for cell in cells:
        paragraph = nodes.paragraph()
        paragraph += cell if isinstance(cell, nodes.Node) else nodes.Text(str(cell))
        row += nodes.entry("", paragraph)
    return row


def _report_times(app, exception) -> None:
    if exception is not None:
        return
    try:
        from myst_nb.sphinx_ import NbMetadataCollector
    except ImportError:
        return
    data = NbMetadataCollector.get_doc_data(app.env)
    times = {doc: meta["exec_data"] for doc, meta in sorted(data.items()) if meta.get("exec_data")}
    rows = {doc: {"seconds": d.get("runtime"), "method": d.get("method"),
                  "succeeded": d.get("succeeded")} for doc, d in times.items()}
    out = Path(app.outdir).parent / "execution_times.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")  # always rewritten: never a stale record
    logger.info("kexue: notebook execution times (seconds):")
    for doc, row in rows.items():
        secs = row["seconds"]
        logger.info(f"  {secs:7.1f}  {doc}" if secs is not None else f"      ?  {doc}")


def _trim_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated <script> entries (same file, or same inline body), and MathJax from a page with
    no formula. Under jupyter-book 1.x with Sphinx 7.4, sphinx-thebe's inline configuration lands
    twice on every page, and the second copy throws "THEBE_JS_URL has already been declared";
    myst-nb has Sphinx add MathJax (0.8 MB with its fonts) to every page, math or not, and
    sphinx-design's files come to every page too."""
    body = context.get("body", "")
    has_math = any(mark in body for mark in ("\\(", "\\[", "\\begin{", "$$"))
    uses_design = "sd-" in body
    seen, unique = set(), []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        filename = getattr(script, "filename", str(script)) or ""
        key = (filename, attributes.get("body", ""))
        is_mathjax = filename.endswith(app.config.mathjax_path) or key[1].startswith("window.MathJax")
        unused = (not has_math and is_mathjax) or (not uses_design and "design-tabs" in filename)
        if key in seen or unused:
            continue
        seen.add(key)
        unique.append(script)
    context["script_files"] = unique
    if not uses_design:
        context["css_files"] = [css for css in context.get("css_files", [])
                                if "sphinx-design" not in (getattr(css, "filename", str(css)) or "")]


#: The theme's Font Awesome script (1.5 MB) swaps each icon for an SVG; the theme's CSS already draws
#: the same icons from Font Awesome's web fonts, so the book does without the script (and draws the
#: repository button with a solid icon, not the brands font's GitHub logo).
FONTAWESOME_SCRIPT = re.compile(r'<script[^>]*src="[^"]*_static/scripts/fontawesome\.js[^"]*"[^>]*></script>\s*')
#: The theme loads Sphinx's search index (0.2 MB, growing with the book) on every page for a
#: search-as-you-type box the book does not turn on; only the search page needs it.
SEARCH_SCRIPTS = re.compile(r'<script src="[^"]*(?:_static/searchtools|_static/language_data|searchindex)'
                            r'\.js"></script>\s*')


def trim_page(text: str, *, search_page: bool) -> str:
    """A written page without the scripts and the font it does not need (see above)."""
    text = FONTAWESOME_SCRIPT.sub("", text).replace('class="fab fa-github"', 'class="fa-solid fa-code-branch"')
    return text if search_page else SEARCH_SCRIPTS.sub("", text)


def _trim_pages(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        trimmed = trim_page(text, search_page=page.relative_to(out).as_posix() == "search.html")
        if trimmed != text:
            page.write_text(trimmed, encoding="utf-8")
    for name in ("fontawesome.js", "fontawesome.js.map", "fontawesome.js.LICENSE.txt"):
        (out / "_static" / "scripts" / name).unlink(missing_ok=True)


def _drop_widget_state(app, doctree) -> None:
    """Forget the ipywidgets state myst-nb found in the executed notebook's metadata (it is read
    just before this): every kexue widget shows its static view in the book, which needs none of it."""
    data = getattr(app.env, "nb_metadata", {}).get(app.env.docname, {})
    data.get("js_files", {}).pop("ipywidgets_state", None)


#: Arguments every notebook kernel of the build starts with: its own log at critical errors only.
QUIET_KERNEL = ["--IPKernelApp.log_level=CRITICAL"]


def quiet_kernels() -> None:
    """Start the kernels that execute the notebooks with :data:`QUIET_KERNEL`. ipykernel warns at
    every kernel start that it talks to the build over unencrypted TCP on localhost, which would be
    a build-log warning per notebook; the kernel and the build share this machine. (Unix sockets
    instead silenced it too, but builds over them stalled now and then, a kernel idle while the
    build waited for its reply; CurveZMQ keys made notebooks 30 times slower.) And
    ``jupyter_client`` interrupts every kernel before shutting it down: one still inside a message
    handler then logs "KeyboardInterrupt caught in kernel" as an error, a line in a few builds'
    logs out of every 35 notebooks. A cell that fails reaches the build through its messages and
    fails it; the kernel's own log has nothing the build needs below critical."""
    from nbclient import NotebookClient

    NotebookClient.class_traits()["extra_arguments"].default_value = list(QUIET_KERNEL)


#: The longest a build waits on a kernel channel before looking again (seconds).
POLL_SLICE_S = 0.5


def steady_kernel_replies() -> None:
    """Make the build wait for a kernel's messages in slices of :data:`POLL_SLICE_S` seconds.

    ``jupyter_client`` waits for a reply with one ``poll`` of the whole cell timeout (300 s), and
    pyzmq's asyncio poller looks at the socket again only when its file descriptor fires or the
    timeout ends. Now and then the descriptor's edge is missed: the reply sits in the socket, the
    kernel is idle, and the build waits out the whole timeout before it finds the reply (seen as
    notebooks that succeed after 300 s). Waiting in short slices finds it within one slice."""
    from queue import Empty
    from time import monotonic

    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg
    if getattr(original, "kexue_sliced", False):
        return

    async def get_msg(self, timeout: float | None = None):
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else max(0.0, deadline - monotonic())
            try:
                return await original(self, timeout=min(POLL_SLICE_S, left))
            except Empty:
                if deadline is not None and monotonic() >= deadline:
                    raise

    get_msg.kexue_sliced = True
    get_msg.__doc__ = original.__doc__
    AsyncZMQSocketChannel.get_msg = get_msg


def _register_round_bracket_citations() -> str:
    """sphinxcontrib-bibtex's author-year style with round brackets, "(Jiang et al., 2017)" and
    "Jiang et al. (2017)", as the book's prose writes them. Returns the style's name."""
    from dataclasses import dataclass, field

    import sphinxcontrib.bibtex.plugin
    from sphinxcontrib.bibtex.style.referencing import BracketStyle
    from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

    def round_brackets() -> BracketStyle:
        return BracketStyle(left="(", right=")")

    @dataclass
    class RoundBrackets(AuthorYearReferenceStyle):
        bracket_parenthetical: BracketStyle = field(default_factory=round_brackets)
        bracket_textual: BracketStyle = field(default_factory=round_brackets)
        bracket_author: BracketStyle = field(default_factory=round_brackets)
        bracket_label: BracketStyle = field(default_factory=round_brackets)
        bracket_year: BracketStyle = field(default_factory=round_brackets)

    name = "author_year_round"
    sphinxcontrib.bibtex.plugin.register_plugin("sphinxcontrib.bibtex.style.referencing", name,
                                                RoundBrackets)
    return name


def setup(app):
    _register_round_bracket_citations()
    app.add_directive("kexue-results", ResultsTable)
    app.add_node(TimingsNode)
    app.add_directive("kexue-timings", TimingsTable)
    app.add_post_transform(_FillTimings)
    quiet_kernels()
    steady_kernel_replies()
    app.connect("builder-inited", _drop_stale_cache)
    app.connect("env-get-outdated", _outdated)
    app.connect("build-finished", _report_times)
    app.connect("build-finished", _stamp_source)
    app.connect("html-page-context", _trim_scripts, priority=999)  # after others add theirs
    app.connect("build-finished", _trim_pages)
    app.connect("doctree-read", _drop_widget_state)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
