"""Page weight, measured in headless Chromium: a page's weight is its HTML plus every file that only
this page loads (its images, inlined data, scripts of its own); files that two or more pages load
(the theme, MathJax and its fonts) are the book's shared assets, counted once for the book."""
import collections

import pytest

from .test_pages import CHAPTERS, PAGES

MB = 1e6
SHARED_LIMIT = 2.0 * MB
# the goal; the heaviest page, vae-geometry, carries a full-run decoder for its static
# latent explorer (1.1 MB of float16 weights) beside 1.2 MB of figures: about 2.9 MB
PAGE_LIMIT = 3.0 * MB


@pytest.fixture(scope="module")
def loads(browser, server):
    """``{doc: {url: bytes}}``: every file each page fetched, typeset and idle."""
    found = {}
    for doc in PAGES:
        context = browser.new_context()
        page = context.new_page()
        sizes = {}

        def record(response, sizes=sizes):
            if response.url.startswith(server) and response.status == 200:
                try:
                    sizes[response.url.split("?")[0]] = len(response.body())
                except Exception:  # a response the page dropped before it finished
                    pass

        page.on("response", record)
        page.goto(f"{server}/{doc}.html", wait_until="load")
        page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
        page.wait_for_load_state("networkidle")
        found[doc] = sizes
        context.close()
    return found


def split(loads):
    """The shared files (fetched by two or more pages) and each page's own weight."""
    users = collections.Counter(url for sizes in loads.values() for url in sizes)
    shared = {url: size for sizes in loads.values() for url, size in sizes.items() if users[url] > 1}
    own = {doc: sum(size for url, size in sizes.items() if users[url] == 1) for doc, sizes in loads.items()}
    return shared, own


def test_shared_assets_are_at_most_2_mb(loads):
    shared, _ = split(loads)
    total = sum(shared.values())
    biggest = sorted(shared.items(), key=lambda kv: -kv[1])[:5]
    assert total <= SHARED_LIMIT, f"shared assets {total / MB:.2f} MB; largest: {biggest}"


@pytest.mark.parametrize("doc", CHAPTERS)
def test_each_chapter_page_stays_under_the_page_limit(loads, doc):
    _, own = split(loads)
    assert loads[doc], f"{doc} loaded nothing"
    print(f"{doc}: {own[doc] / MB:.2f} MB of its own")
    assert own[doc] <= PAGE_LIMIT, f"{doc}: {own[doc] / MB:.2f} MB of its own"


def test_no_page_loads_the_font_awesome_script_and_the_intro_no_mathjax(loads):
    assert not any("fontawesome.js" in url or "fa-brands" in url for sizes in loads.values() for url in sizes)
    assert not any("mathjax" in url for url in loads["intro"]), "the intro has no formula"


def test_icons_still_draw_from_the_theme_fonts(browser, server):
    """Without Font Awesome's script, the theme's CSS draws its icons from the web font."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server}/{CHAPTERS[0]}.html", wait_until="load")
    page.evaluate("() => document.fonts.ready")
    family = page.evaluate("() => getComputedStyle(document.querySelector('i.fa-solid, i.fas'),"
                           " '::before').fontFamily")
    width = page.evaluate("() => Math.max(...[...document.querySelectorAll('i.fa-solid, i.fas')]"
                          ".map(e => e.getBoundingClientRect().width))")
    context.close()
    assert "Font Awesome" in family and width > 4
