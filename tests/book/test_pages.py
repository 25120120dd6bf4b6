"""The built book in headless Chromium with the network cut off: every page loads with no console
errors and no outside requests, formulas are typeset by the book's own MathJax, and the widgets
respond to their sliders."""
import re

import pytest

from kexue import sphinx

from .conftest import ROOT

PAGES = sphinx.book_documents(ROOT / "_toc.yml")
CHAPTERS = [p for p in PAGES if p.startswith("chapters/") and not p.endswith("/index")]


def open_page(page, doc):
    page.goto(f"{page.kexue_base}/{doc}.html", wait_until="load")
    return page


@pytest.mark.parametrize("doc", PAGES)
def test_page_loads_offline_without_errors(offline_page, doc):
    page = open_page(offline_page, doc)
    page.wait_for_timeout(300)
    assert page.kexue_blocked == [], f"requests outside the book: {page.kexue_blocked}"
    assert page.kexue_problems == [], "\n".join(page.kexue_problems)
    assert page.locator("h1").count() >= 1


@pytest.mark.parametrize("doc", CHAPTERS)
def test_math_is_typeset_by_the_local_mathjax(offline_page, doc):
    page = open_page(offline_page, doc)
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert sum(bool(re.search(r"_static/mathjax/startup\.js", s)) for s in scripts) == 1, scripts
    assert not any("/extensions/" in s for s in scripts), "MathJax extensions load on demand only"
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    assert page.locator("mjx-container").count() > 0, "no typeset formula on the page"
    assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
    assert page.kexue_problems == [], "\n".join(page.kexue_problems)


def test_a_widget_responds_to_its_slider(offline_page):
    widget_pages = [doc for doc in CHAPTERS
                    if 'data-kind="slider-figure"' in (ROOT / "_build" / "html" / f"{doc}.html").read_text()]
    assert widget_pages, "no chapter page holds a slider widget"
    for doc in widget_pages:
        page = open_page(offline_page, doc)
        widget = page.locator('.kx-widget[data-kind="slider-figure"]').first
        img = widget.locator("img.kx-frame")
        before = img.get_attribute("src")
        slider = widget.locator("input.kx-slider").first
        start = slider.evaluate("(el) => el.value")
        for target in ("0", "max", start):  # move away and back: the frame changes, then returns
            slider.evaluate("(el, t) => { el.value = t === 'max' ? el.max : t; "
                            "el.dispatchEvent(new Event('input', {bubbles: true})); }", target)
            src = img.get_attribute("src")
            moved = slider.evaluate("(el) => el.value") != start
            assert src.startswith("data:image/png;base64,"), doc
            assert (src != before) == moved, f"{doc}: slider at {target}, frame changed: {src != before}"
        assert page.kexue_problems == [], "\n".join(page.kexue_problems)


def test_results_appendix_lists_every_registered_experiment(offline_page):
    from kexue import experiments

    names = experiments.names()
    page = open_page(offline_page, "appendix/results")
    rows = page.locator("table.kexue-results tbody tr")
    assert rows.count() == len(names)
    shown = rows.locator("td:first-child").all_inner_texts()
    assert all(text.startswith(name) for text, name in zip(shown, names)), shown
    for name, ours in zip(names, rows.locator("td:nth-child(3)").all_inner_texts()):
        has_record = (ROOT / "results" / f"{name}.json").exists()
        assert (ours.strip() == "no record yet") != has_record, (name, ours)


def test_mathjax_autoloads_its_extensions_from_the_book(offline_page):
    """Macros outside MathJax's core (\\boldsymbol, \\cancel) load their extension from the book's
    own files, with the network cut off."""
    page = open_page(offline_page, CHAPTERS[0])
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    html = page.evaluate(r"() => MathJax.startup.promise.then(() => "
                         r"MathJax.tex2chtmlPromise('\\boldsymbol{x} + \\cancel{y}')).then(n => n.outerHTML)")
    assert "mjx-merror" not in html and "mjx-c" in html
    assert page.kexue_blocked == [] and page.kexue_problems == [], page.kexue_problems
