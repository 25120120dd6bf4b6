"""A small Sphinx extension for the book (listed in ``_config.yml``).

* Drops the notebook execution cache, and marks every notebook for re-reading, when anything
  under ``src/kexue`` changed since the last build: jupyter-cache keys on a notebook's own code
  cells and would otherwise keep outputs computed by an older package.
* ``{kexue-results}``: a table of every registered experiment, with its record in
  ``results/NAME.json`` (our number beside the post's) or a visible "no record yet".
* Drops the ipywidgets state that notebook execution stores in each notebook: the book shows the
  static view of every kexue widget, which needs none of it (about 90 kB per explorer page).
* Removes repeated <script> entries from pages (a jupyter-book 1.x / Sphinx 7.4 quirk).
* Has the kernels that execute the notebooks talk to the build over Unix-domain sockets in a
  private folder, not unencrypted TCP, so ipykernel does not warn at every kernel start.
* After the build: prints each notebook's execution time and writes them to
  ``_build/execution_times.json`` (the budget test reads it).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
STAMP = "kexue-src.sha256"


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
    digest = source_digest(package_source(app.confdir))
    previous = stamp.read_text().strip() if stamp.exists() else None
    app.kexue_source_changed = previous != digest
    app.kexue_source_stamp = (stamp, digest)
    if app.kexue_source_changed and cache.exists():
        logger.info(f"kexue: src/kexue changed since the last build; dropping {cache}")
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


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "—" if value is None else str(value)


def results_rows(folder: Path, registered: list[str]) -> list[list[str]]:
    """One row per registered experiment (and per record of an experiment no longer registered):
    name, metric, ours, the post's, profile, device, wall time, date; "no record yet" where no
    ``folder/NAME.json`` exists."""
    records = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    rows = []
    for name in sorted(set(registered) | set(records)):
        rec = records.get(name)
        if rec is None:
            rows.append([name, "—", "no record yet", "—", "—", "—", "—", "—"])
            continue
        ref = rec.get("reference") or {}
        rows.append([rec["experiment"], rec["metric"], _fmt(rec["metrics"].get(rec["metric"])),
                     f"{_fmt(ref.get('value'))} ({ref.get('where')})" if ref else "—",
                     rec["profile"], rec["provenance"]["device_name"], _fmt(rec["wall_time_s"]),
                     rec["provenance"]["date"][:10]])
    return rows


class ResultsTable(SphinxDirective):
    """``{kexue-results}``: one row per registered experiment, from its ``results/NAME.json``."""

    has_content = False

    def run(self):
        from . import experiments

        folder = Path(self.env.srcdir) / "results"
        for path in sorted(folder.glob("*.json")):
            self.env.note_dependency(str(path))
        rows = results_rows(folder, experiments.names())
        header = ["Experiment", "Metric", "Ours", "The post's", "Profile", "Device",
                  "Wall time (s)", "Date"]
        table = nodes.table(classes=["kexue-results"])
        group = nodes.tgroup(cols=len(header))
        table += group
        group += [nodes.colspec(colwidth=1) for _ in header]
        head, body = nodes.thead(), nodes.tbody()
        group += head
        group += body
        head += self._row(header)
        for cells in rows:
            row = self._row(cells)
            post = experiments.get(cells[0]).post if cells[0] in experiments.names() else None
            if post is not None:
                row[0][0] += nodes.reference("", f" (post {post})",
                                             refuri=f"https://spaces.ac.cn/archives/{post}")
            body += row
        return [table]

    @staticmethod
    def _row(cells):
        row = nodes.row()
        for text in cells:
            row += nodes.entry("", nodes.paragraph(text=str(text)))
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


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated <script> entries (same file, or same inline body). Under jupyter-book 1.x
    with Sphinx 7.4, sphinx-thebe's inline configuration lands twice on every page, and the second
    copy throws "THEBE_JS_URL has already been declared"."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", str(script)) or "", attributes.get("body", ""))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _drop_widget_state(app, doctree) -> None:
    """Forget the ipywidgets state myst-nb found in the executed notebook's metadata (it is read
    just before this): every kexue widget shows its static view in the book, which needs none of it."""
    data = getattr(app.env, "nb_metadata", {}).get(app.env.docname, {})
    data.get("js_files", {}).pop("ipywidgets_state", None)


def use_ipc_kernels() -> Path:
    """Have the kernels that execute the notebooks talk to the build over Unix-domain sockets in a
    private folder (ZeroMQ's IPC transport) instead of TCP on localhost. ipykernel warns at every
    start of a kernel reached over unencrypted TCP, and recommends IPC or CurveZMQ keys; keys were
    tried and, with the curve implementation bundled in pyzmq, made a notebook with large outputs
    30 times slower. jupyter_client picks the socket path when the kernel manager is made, as a
    path relative to the current folder, which the kernel (started in the notebook's folder) does
    not share; so the managers are given an absolute one. Returns the sockets' folder."""
    import atexit
    import tempfile

    from jupyter_client.manager import AsyncKernelManager, KernelManager

    folder = Path(tempfile.mkdtemp(prefix="kexue-kernels-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    KernelManager.class_traits()["transport"].default_value = "ipc"
    for manager in (KernelManager, AsyncKernelManager):
        # traitlets looks a dynamic default up in the instance's own class first
        manager._ip_default = lambda self: str(folder / "kernel")
    return folder


def setup(app):
    app.add_directive("kexue-results", ResultsTable)
    use_ipc_kernels()
    app.connect("builder-inited", _drop_stale_cache)
    app.connect("env-get-outdated", _outdated)
    app.connect("build-finished", _report_times)
    app.connect("build-finished", _stamp_source)
    app.connect("html-page-context", _dedupe_scripts, priority=999)  # after others add theirs
    app.connect("doctree-read", _drop_widget_state)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
