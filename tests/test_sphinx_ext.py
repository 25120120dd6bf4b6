"""The book's Sphinx extension: the source digest that drops stale notebook caches, the results
appendix, the widget state left out of pages."""
import json
from pathlib import Path

import pytest

from kexue import sphinx as ext

ROOT = Path(__file__).resolve().parent.parent


def test_digest_changes_with_content_and_names_but_not_caches(tmp_path):
    pkg = tmp_path / "src" / "kexue"
    pkg.mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    first = ext.source_digest(pkg)
    assert ext.source_digest(pkg) == first
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0junk")
    assert ext.source_digest(pkg) == first  # byte-code caches do not count
    (pkg / "a.py").write_text("x = 2\n")
    second = ext.source_digest(pkg)
    assert second != first
    (pkg / "a.py").rename(pkg / "b.py")
    assert ext.source_digest(pkg) != second  # a rename is a change


def test_package_source_prefers_the_checkout(tmp_path):
    (tmp_path / "src" / "kexue").mkdir(parents=True)
    assert ext.package_source(tmp_path) == tmp_path / "src" / "kexue"
    assert ext.package_source(tmp_path / "elsewhere").name == "kexue"  # the installed package


def test_repeated_scripts_are_dropped_keeping_the_first():
    from types import SimpleNamespace

    from sphinx.builders.html._assets import _JavaScript

    scripts = [_JavaScript("_static/a.js"), _JavaScript(None, body="const X = 1"),
               _JavaScript("_static/a.js", defer="defer"), _JavaScript("", body="const X = 1"),
               _JavaScript(None, body="const Y = 2"), _JavaScript("_static/mathjax/startup.js"),
               _JavaScript(None, body='window.MathJax = {"options": {}}')]
    app = SimpleNamespace(config=SimpleNamespace(mathjax_path="mathjax/startup.js"))
    with_math = {"script_files": scripts, "body": "<p>\\(x\\)</p>"}
    ext._trim_scripts(app, "page", "page.html", with_math, None)
    assert with_math["script_files"] == [scripts[0], scripts[1], scripts[4], scripts[5], scripts[6]]
    without = {"script_files": scripts, "body": "<p>no formula, $5 only</p>"}
    ext._trim_scripts(app, "page", "page.html", without, None)
    assert without["script_files"] == [scripts[0], scripts[1], scripts[4]]


def test_pages_lose_the_font_awesome_script_and_the_search_index_but_the_search_page():
    page = ('<head><script defer src="_static/scripts/bootstrap.js?digest=1"></script>\n'
            '  <script defer src="../_static/scripts/fontawesome.js?digest=1"></script>\n'
            '<script src="../_static/searchtools.js"></script>\n'
            '<script src="../_static/language_data.js"></script>\n'
            '<script src="../searchindex.js"></script>\n'
            '<script src="x.js"></script></head><i class="fab fa-github"></i>')
    trimmed = ext.trim_page(page, search_page=False)
    assert "fontawesome" not in trimmed and "search" not in trimmed and "language_data" not in trimmed
    assert "bootstrap.js" in trimmed and "x.js" in trimmed and 'class="fa-solid fa-code-branch"' in trimmed
    kept = ext.trim_page(page, search_page=True)
    assert "searchindex.js" in kept and "searchtools.js" in kept and "fontawesome" not in kept


class FakeApp:
    def __init__(self, root):
        from types import SimpleNamespace

        self.confdir = str(root)
        self.outdir = str(root / "_build" / "html")
        self.config = SimpleNamespace(nb_execution_cache_path="")


def test_cache_is_dropped_when_the_package_changes_and_stamped_only_after_success(tmp_path):
    pkg = tmp_path / "src" / "kexue"
    pkg.mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    cache = tmp_path / "_build" / ".jupyter_cache"
    cache.mkdir(parents=True)
    app = FakeApp(tmp_path)
    ext._drop_stale_cache(app)  # first build: no stamp yet
    assert app.kexue_source_changed and not cache.exists()
    ext._stamp_source(app, RuntimeError("the build failed"))
    assert not (tmp_path / "_build" / ext.STAMP).exists()
    ext._stamp_source(app, None)
    cache.mkdir()
    app = FakeApp(tmp_path)
    ext._drop_stale_cache(app)  # unchanged package: the cache stays
    assert not app.kexue_source_changed and cache.exists()
    (pkg / "a.py").write_text("x = 2\n")
    app = FakeApp(tmp_path)
    ext._drop_stale_cache(app)
    assert app.kexue_source_changed and not cache.exists()
    ext._stamp_source(app, None)
    (tmp_path / "results").mkdir()  # a new full record (and its model) changes what pages show
    (tmp_path / "results" / "a.json").write_text("{}\n")
    cache.mkdir()
    app = FakeApp(tmp_path)
    ext._drop_stale_cache(app)
    assert app.kexue_source_changed and not cache.exists()


def test_results_rows_list_every_registered_experiment_with_or_without_a_record(tmp_path):
    from kexue.sphinx import results_rows

    record = {"experiment": "a-b", "metric": "acc", "metrics": {"acc": 0.5}, "reference": None,
              "profile": "full", "provenance": {"device_name": "cpu", "date": "2026-12-06T00:00"},
              "wall_time_s": 3.0}
    (tmp_path / "a-b.json").write_text(json.dumps(record))
    rows = results_rows(tmp_path, ["a-b", "c-d"])
    assert [r[0] for r in rows] == ["a-b", "c-d"]
    assert rows[0][2] == "0.5" and rows[1][2] == "no record yet"


def test_the_appendix_covers_exactly_the_registered_experiments():
    """Every registered experiment has a row; every committed record belongs to one."""
    from kexue import experiments
    from kexue.sphinx import results_rows

    rows = results_rows(ROOT / "results", experiments.names())
    assert [r[0] for r in rows] == experiments.names()
    missing = [r[0] for r in rows if r[2] == "no record yet"]
    assert not missing, f"registered experiments without a full record in results/: {missing}"


def test_widget_state_is_dropped_and_nothing_else():
    from types import SimpleNamespace

    from kexue.sphinx import _drop_widget_state

    js = {"ipywidgets_state": (None, {}), "other": ("x.js", {})}
    env = SimpleNamespace(docname="doc", nb_metadata={"doc": {"js_files": js}})
    _drop_widget_state(SimpleNamespace(env=env), None)
    assert js == {"other": ("x.js", {})}


def test_notebook_kernels_start_quiet_and_answer(tmp_path):
    """The build's kernels start with their log at critical errors only (no warning per kernel
    start, no error line when the build interrupts a kernel to shut it down), and
    a notebook still executes through jupyter-cache, the way the build runs it."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution
    from nbclient import NotebookClient

    trait = NotebookClient.class_traits()["extra_arguments"]
    before = trait.default_value
    ext.quiet_kernels()
    try:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
        assert NotebookClient(nb).extra_arguments == ext.QUIET_KERNEL
        result = single_nb_execution(nb, cwd=str(tmp_path), timeout=60, allow_errors=False)
        assert result.err is None and nb.cells[0].outputs[0]["text"] == "42\n"
    finally:
        trait.default_value = before


def test_timings_are_listed_by_chapter_number_in_book_order():
    order = ext.book_documents(ROOT / "_toc.yml")
    first, second = [d for d in order if d.startswith("chapters/") and not d.endswith("index")][:2]
    data = {second: {"runtime": 2.0, "succeeded": True}, first: {"runtime": 1.5, "succeeded": False},
            "intro": None}
    rows = ext.timing_rows(order, data, {first: (1, 1), second: (1, 2)},
                              {first: "First", second: "Second"})
    assert rows == [(first, "1.1 First", 1.5, False), (second, "1.2 Second", 2.0, True)]


def test_book_documents_walks_parts_and_sections(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nparts:\n  - chapters:\n      - file: a/index\n"
                   "        sections:\n          - file: a/x\n          - file: a/y\n"
                   "  - caption: Appendix\n    chapters:\n      - file: z\n")
    assert ext.book_documents(toc) == ["intro", "a/index", "a/x", "a/y", "z"]


def test_every_registered_experiment_is_run_by_a_chapter():
    """The appendix links each experiment to the chapter that runs it."""
    from kexue import experiments

    chapters = ext.experiment_chapters(ROOT, experiments.names())
    assert sorted(chapters) == experiments.names()
    assert all(doc.startswith("chapters/") for doc in chapters.values())


def test_results_rows_round_to_the_resolution_and_say_where_ours_falls_short(tmp_path):
    from kexue import experiments

    name = "vae-cluster-mnist"
    spec = experiments.get(name)
    record = {"experiment": name, "metric": spec.metric, "metrics": {spec.metric: 0.771234},
              "reference": {"value": 0.83, "metric": "acc", "where": "post"}, "profile": "full",
              "provenance": {"device_name": "cpu", "date": "2026-12-06T00:00"}, "wall_time_s": 600.0}
    (tmp_path / f"{name}.json").write_text(json.dumps(record))
    row = ext.results_rows(tmp_path, [name])[0]
    assert row[2] == "0.771" and row[3] == "0.83 (post)" and row[4] == "full, cpu, 10 min, 2026-12-06"
    assert row[5] == "short of the reference by 0.059"
    record["metrics"][spec.metric] = 0.828  # within the resolution of the post's number: no note
    (tmp_path / f"{name}.json").write_text(json.dumps(record))
    assert ext.results_rows(tmp_path, [name])[0][5] == ""


def test_headlines_check_their_fields():
    from kexue.experiments import Headline

    with pytest.raises(ValueError, match="resolution"):
        Headline("acc", 0.0)
    with pytest.raises(ValueError, match="better"):
        Headline("acc", 0.01, "up")
    with pytest.raises(ValueError, match="label"):
        Headline("", 0.01)
    assert Headline("nll", 0.1, "lower").shortfall(90.26, 78.01) == pytest.approx(12.25)
    assert Headline("x", 0.01).shortfall(1.0, 2.0) is None  # no direction: no verdict


def test_citations_use_round_brackets():
    import sphinxcontrib.bibtex.plugin

    name = ext._register_round_bracket_citations()
    style = sphinxcontrib.bibtex.plugin.find_plugin("sphinxcontrib.bibtex.style.referencing", name)()
    assert (style.bracket_parenthetical.left, style.bracket_parenthetical.right) == ("(", ")")
    assert (style.bracket_textual.left, style.bracket_textual.right) == ("(", ")")


def test_design_files_stay_only_where_used():
    from types import SimpleNamespace

    from sphinx.builders.html._assets import _CascadingStyleSheet, _JavaScript

    scripts = [_JavaScript("_static/design-tabs.js"), _JavaScript("_static/doctools.js")]
    css = [_CascadingStyleSheet("_static/sphinx-design.min.css"), _CascadingStyleSheet("_static/basic.css")]
    app = SimpleNamespace(config=SimpleNamespace(mathjax_path="mathjax/startup.js"))
    page = {"script_files": scripts, "css_files": css, "body": "<p>text</p>"}
    ext._trim_scripts(app, "chapters/a", "page.html", page, None)
    assert page["script_files"] == [scripts[1]] and page["css_files"] == [css[1]]
    uses = {"script_files": scripts, "css_files": css, "body": '<div class="sd-card">'}
    ext._trim_scripts(app, "chapters/b", "page.html", uses, None)
    assert uses["script_files"] == scripts and uses["css_files"] == css


def test_kernel_replies_are_waited_for_in_slices(monkeypatch):
    """A reply whose wake-up the poller missed is found within one slice, not after the whole
    cell timeout; a channel with nothing in it still times out on time."""
    import asyncio
    import time
    from queue import Empty

    from jupyter_client.channels import AsyncZMQSocketChannel

    from kexue import sphinx as ext

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", AsyncZMQSocketChannel.get_msg)
    ext.steady_kernel_replies()
    ext.steady_kernel_replies()          # once only: no slices within slices

    class MissedWakeUp:
        """A socket whose message is there but whose poll sleeps its whole timeout."""

        def __init__(self, ready):
            self.ready = ready

        async def poll(self, timeout_ms):
            await asyncio.sleep((timeout_ms or 0) / 1000)
            return int(self.ready)

    channel = AsyncZMQSocketChannel.__new__(AsyncZMQSocketChannel)
    channel.socket = MissedWakeUp(True)

    async def recv():
        return {"msg_id": "reply"}

    channel._recv = recv
    start = time.monotonic()
    assert asyncio.run(channel.get_msg(timeout=30)) == {"msg_id": "reply"}
    assert time.monotonic() - start < 2 * ext.POLL_SLICE_S
    channel.socket = MissedWakeUp(False)
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=1.2))
    assert 1.2 <= time.monotonic() - start < 1.2 + 2 * ext.POLL_SLICE_S
