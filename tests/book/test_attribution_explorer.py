"""The attribution explorer's static view in headless Chromium, offline: whatever example and
method the reader picks, the page paints the image and the heat map pixel for pixel as the Python
side defines them (:func:`heat_rgb`), shades each character of a text by its level, and logs no
error; then the same on the integrated-gradients page of the built book."""
import base64
import json

import numpy as np

from kexue.widgets.attribution_explorer import AttributionExplorer, heat_rgb

ROOT = "document.querySelectorAll('.kx-widget[data-kind=\"attribution-explorer\"]')[%d]"
PICK = """([root, css, value]) => {
  const menu = root.querySelector(css);
  menu.value = String(value);
  menu.dispatchEvent(new Event('change', {bubbles: true}));
}"""
CANVAS = """([root, css]) => {
  const c = root.querySelector(css);
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
}"""


def _data(page, root):
    return page.evaluate("(root) => JSON.parse(root.querySelector('.kx-data').textContent)", root)


def _levels(data, e, m):
    return np.frombuffer(base64.b64decode(data["examples"][e]["levels"][m]), np.int8)


def _check_image(page, root, data):
    e, m = (int(page.evaluate(f"(root) => root.dataset.{k}", root)) for k in ("example", "method"))
    heat = np.array(page.evaluate(CANVAS, [root, "canvas.kx-heat"])).reshape(-1, 4)
    assert (heat[:, :3] == heat_rgb(_levels(data, e, m))).all()
    grey = np.array(page.evaluate(CANVAS, [root, "canvas.kx-input"])).reshape(-1, 4)[:, 0]
    pixels = np.frombuffer(base64.b64decode(data["examples"][e]["image"]), np.uint8)
    assert (grey == 255 - pixels.astype(int)).all()
    caption = page.evaluate("(root) => root.querySelector('.kx-caption').textContent", root)
    assert caption == data["examples"][e]["caption"]


def _check_text(page, root, data):
    e, m = (int(page.evaluate(f"(root) => root.dataset.{k}", root)) for k in ("example", "method"))
    shades = page.evaluate("(root) => Array.from(root.querySelectorAll('.kx-text span'))"
                           ".map(s => [s.textContent, getComputedStyle(s).backgroundColor])", root)
    text, levels = data["examples"][e]["text"], _levels(data, e, m)
    assert "".join(ch for ch, _ in shades) == text
    for (_, colour), level in zip(shades, levels):
        alpha = float(colour.rsplit(",", 1)[1].rstrip(")")) if colour.startswith("rgba") else 1.0
        assert abs(alpha - abs(int(level)) / 127) < 0.01 or (level == 0 and "0)" in colour)


def _exercise(page, k, check):
    root = page.evaluate_handle(f"() => {ROOT % k}")
    data = _data(page, root)
    check(page, root, data)
    for example, method in ((len(data["examples"]) - 1, 0), (0, len(data["methods"]) - 1), (1, 1)):
        page.evaluate(PICK, [root, "select.kx-example", example])
        page.evaluate(PICK, [root, "select.kx-method", method])
        assert page.evaluate("(root) => [root.dataset.example, root.dataset.method]", root) == [
            str(example), str(method)]
        check(page, root, data)


def test_standalone_image_and_text_explorers(standalone_page):
    rng = np.random.default_rng(0)
    images = AttributionExplorer([{"image": rng.random(784), "caption": f"digit {k}",
                                   "attributions": {"a": rng.standard_normal(784),
                                                    "b": rng.random(784)}} for k in range(3)],
                                 ["a", "b"])
    texts = AttributionExplorer([{"text": t, "caption": t, "attributions": {
        "a": rng.standard_normal(len(t)), "b": rng.random(len(t))}} for t in ("很好", "太差了！", "一般")],
                                ["a", "b"])
    page = standalone_page(images.static_html() + texts.static_html(), "attributions")
    _exercise(page, 0, _check_image)
    _exercise(page, 1, _check_text)
    assert not page.kexue_problems and not page.kexue_blocked


def test_integrated_gradients_page_explorers(offline_page, html_dir):
    doc = "chapters/part7-classifiers/integrated-gradients"
    html = (html_dir / f"{doc}.html").read_text()
    kinds = [json.loads(part.split("</script>")[0])["kind"]
             for part in html.split('class="kx-data">')[1:] if '"levels"' in part.split("</script>")[0]]
    assert kinds.count("image") >= 2 and kinds.count("text") >= 1
    offline_page.goto(f"{offline_page.kexue_base}/{doc}.html")
    for k, kind in enumerate(kinds):
        _exercise(offline_page, k, _check_image if kind == "image" else _check_text)
    assert not offline_page.kexue_problems
