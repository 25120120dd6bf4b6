"""The built book's pages keep what they say inside the text column: at 1400 px no display equation
(with its number), table, code block or output is wider than the column; table cells are padded;
no output shows a build machine's temporary path; the Colab bootstrap cell is not on the page. At
400 px the page itself never scrolls sideways, every widget's controls fit the widget, and its frames
are not shrunk below 480 px (they scroll in their own box instead)."""
import re

import pytest

from .test_pages import CHAPTERS, PAGES, open_page

#: The column: the article's content box. Each check returns a list of what does not fit.
OVERFLOWS = """() => {
  const article = document.querySelector('article.bd-article');
  const box = article.getBoundingClientRect(), style = getComputedStyle(article);
  const left = box.left + parseFloat(style.paddingLeft), right = box.right - parseFloat(style.paddingRight);
  const width = right - left, text = (el) => el.textContent.trim().slice(0, 60);
  const wide = [];
  article.querySelectorAll('div.math').forEach((el) => {
    const math = el.querySelector('mjx-math'), number = el.querySelector('.eqno');
    if (!math) return;
    const need = math.getBoundingClientRect().width + (number ? number.getBoundingClientRect().width : 0);
    if (need > width + 1) wide.push(`equation ${Math.round(need)} px: ${text(el)}`);
    if (number && number.getBoundingClientRect().left < math.getBoundingClientRect().right - 1)
      wide.push(`equation number not right of its formula: ${text(el)}`);
  });
  article.querySelectorAll('table').forEach((el) => {
    if (el.scrollWidth > width + 1) wide.push(`table ${el.scrollWidth} px: ${text(el)}`);
  });
  article.querySelectorAll('div.highlight pre, .cell_output pre').forEach((el) => {
    if (el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > right + 1)
      wide.push(`code or output ${el.scrollWidth} px in ${el.clientWidth}: ${text(el)}`);
  });
  return {width, wide};
}"""

TEMPORARY_PATH = re.compile(r"(/tmp/|/var/folders/|/private/var/|\\AppData\\Local\\Temp|/home/\w+/)")


def typeset(page):
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")


@pytest.fixture
def wide_page(offline_page):
    offline_page.set_viewport_size({"width": 1400, "height": 900})
    return offline_page


@pytest.fixture
def narrow_page(offline_page):
    offline_page.set_viewport_size({"width": 400, "height": 800})
    return offline_page


@pytest.mark.parametrize("doc", CHAPTERS)
def test_nothing_is_wider_than_the_column_at_1400px(wide_page, doc):
    page = open_page(wide_page, doc)
    typeset(page)
    found = page.evaluate(OVERFLOWS)
    assert found["width"] > 600, found["width"]
    assert found["wide"] == [], f"{doc}: wider than the {found['width']:.0f} px column:\n" + "\n".join(found["wide"])


@pytest.mark.parametrize("doc", [d for d in PAGES if d not in CHAPTERS])
def test_part_and_appendix_pages_fit_the_column_at_1400px(wide_page, doc):
    page = open_page(wide_page, doc)
    found = page.evaluate(OVERFLOWS)
    assert found["wide"] == [], f"{doc}:\n" + "\n".join(found["wide"])


def test_table_cells_are_padded(wide_page):
    """Numbers in neighbouring cells never run together: every cell has visible padding."""
    checked = 0
    for doc in ("appendix/results", "chapters/part2-optimisation/gradient-descent-euler",
                "chapters/part3-vae/vae-clustering"):
        page = open_page(wide_page, doc)
        pads = page.eval_on_selector_all(
            "article.bd-article td, article.bd-article th",
            "els => els.map(e => [parseFloat(getComputedStyle(e).paddingLeft), "
            "parseFloat(getComputedStyle(e).paddingRight)])")
        assert pads, f"{doc} has no table"
        assert min(min(p) for p in pads) >= 4, f"{doc}: a table cell with under 4 px of padding"
        checked += len(pads)
    assert checked > 20


@pytest.mark.parametrize("doc", CHAPTERS)
def test_no_output_shows_a_temporary_path_or_the_bootstrap(wide_page, doc):
    page = open_page(wide_page, doc)
    outputs = "\n".join(page.locator(".cell_output").all_inner_texts())
    assert not TEMPORARY_PATH.search(outputs), f"{doc}: {TEMPORARY_PATH.search(outputs).group(0)!r} in an output"
    assert "Colab bootstrap" not in page.content(), f"{doc} shows the Colab bootstrap cell"


@pytest.mark.parametrize("doc", CHAPTERS)
def test_at_400px_the_page_does_not_scroll_sideways_and_controls_fit(narrow_page, doc):
    page = open_page(narrow_page, doc)
    typeset(page)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{doc}: the page is {overflow} px wider than a 400 px screen"
    clipped = page.evaluate("""() => {
      const out = [];
      document.querySelectorAll('.kx-widget, .kx-playground').forEach((w) => {
        const edge = w.getBoundingClientRect().right;
        w.querySelectorAll('input, select, output, .kx-status, label').forEach((c) => {
          const r = c.getBoundingClientRect();
          if (r.width > 0 && r.right > edge + 1) out.push(`${c.tagName} ${c.className} ends at ${Math.round(r.right)} > ${Math.round(edge)}`);
        });
      });
      return out;
    }""")
    assert clipped == [], f"{doc}:\n" + "\n".join(clipped)
    # a widget's frame keeps its text readable: drawn at its own size or at least 30em (480 px)
    # wide, scrolling inside its box, rather than shrunk to the phone's width
    shrunk = page.evaluate("""() => [...document.querySelectorAll('img.kx-frame')]
      .filter((img) => img.naturalWidth > 0 && img.getBoundingClientRect().width < Math.min(img.naturalWidth, 480) - 1)
      .map((img) => `${img.alt}: ${Math.round(img.getBoundingClientRect().width)} of ${img.naturalWidth} px`)""")
    assert shrunk == [], f"{doc}: widget frames shrunk below 480 px: {shrunk}"
