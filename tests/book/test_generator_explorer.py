"""The generator explorer's static view in headless Chromium, offline, on Part V's generator
(image_generator(64, 32), batch norms with set statistics): the page runs the generator itself;
for the grid of draws, the chosen draw after a click and slider moves, new draws and the
interpolation, its pixels are the NumPy reference's (:func:`decode_exported`, the same float16
weights) to 1e-4 and the float32 torch generator's to 0.02, and its canvases show them; a slider
redraws in well under 50 ms; nothing is logged as an error."""
import json
import statistics

import numpy as np
import pytest
import torch

from kexue.gans.networks import image_generator
from kexue.widgets.generator_explorer import generator_explorer
from kexue.widgets.page_networks import decode_exported

from .test_page_networks import with_statistics

#: The page's float64 arithmetic against NumPy's on the same float16 weights.
REFERENCE_TOL = 1e-4
#: The page's float16 weights against the float32 torch generator (measured: about 2e-4).
TORCH_TOL = 0.02

ROOT = "document.querySelector('.kx-widget[data-kind=\"generator-explorer\"]')"
#: JS: the explorer's state, and the grey levels of its chosen image's and first draw's canvases.
STATE = """(root) => {
  const s = root.kxGenerator, grey = (c) => {
    const im = c.getContext('2d').getImageData(0, 0, c.width, c.height), out = [];
    for (let i = 0; i < im.data.length; i += 4) out.push(im.data[i]);
    return out;
  };
  return {draws: s.draws.map(z => Array.from(z)), images: s.images.map(x => Array.from(x)),
          chosen: s.chosen, z: Array.from(s.z), image: Array.from(s.image), a: s.a, b: s.b, t: s.t,
          between: Array.from(s.between), redrawMs: s.redrawMs.slice(),
          greyChosen: grey(root.querySelector('canvas.kx-chosen')),
          greyFirst: grey(root.querySelector('canvas.kx-draw'))};
}"""
SET = """([root, selector, value, event]) => {
  const input = root.querySelector(selector);
  input.value = String(value);
  input.dispatchEvent(new Event(event, {bubbles: true}));
}"""
#: JS: move slider k to each value in turn, as a reader's hand does.
SLIDE = """([root, k, values]) => {
  const input = root.querySelectorAll('input.kx-slider')[k];
  for (const v of values) {
    input.value = String(v);
    input.dispatchEvent(new Event('input', {bubbles: true}));
  }
}"""


def grey(pixels) -> np.ndarray:
    return np.round(255 * (1 - np.clip(np.asarray(pixels, dtype=np.float64), 0, 1)))


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return with_statistics(image_generator(64, 32), seed=1)


def check(state, payload, generator, where):
    """Every image the page holds against the NumPy reference and torch at the page's own codes,
    and the canvases against the images."""
    draws = np.array(state["draws"])
    za, zb = draws[state["a"]], draws[state["b"]]
    codes = np.concatenate([draws, [state["z"], (1 - state["t"]) * za + state["t"] * zb]])
    got = np.array([*state["images"], state["image"], state["between"]])
    with torch.no_grad():
        by_torch = generator(torch.as_tensor(codes, dtype=torch.float32)).reshape(len(codes), -1)
    vs_reference = np.abs(got - decode_exported(payload, codes).reshape(len(codes), -1)).max()
    vs_torch = np.abs(got - by_torch.numpy()).max()
    assert vs_reference < REFERENCE_TOL, f"{where}: {vs_reference:.3g} from the NumPy reference"
    assert vs_torch < TORCH_TOL, f"{where}: {vs_torch:.3g} from torch"
    assert np.abs(np.array(state["greyChosen"]) - grey(state["image"])).max() <= 1, where
    assert np.abs(np.array(state["greyFirst"]) - grey(state["images"][0])).max() <= 1, where
    np.testing.assert_array_equal(np.array(state["z"])[6:], draws[state["chosen"]][6:])


def test_standalone_explorer_runs_the_generator(standalone_page, generator):
    ex = generator_explorer(generator, 64, title="WGAN-GP")
    html = ex.static_html()
    print(f"image_generator(64, 32) explorer: {len(html.encode())} bytes in the page")
    assert len(html.encode()) < 1_000_000
    payload = ex.payload()["generator"]
    page = standalone_page(html, "generator")
    page.wait_for_function(f"() => {ROOT} && {ROOT}.dataset.ready === '1'")
    root = page.evaluate_handle(f"() => {ROOT}")
    first = page.evaluate(STATE, root)
    assert len(first["draws"]) == 12 and first["chosen"] == 0 and (first["a"], first["b"]) == (0, 1)
    assert first["z"] == first["draws"][0] and first["t"] == 0.5
    check(first, payload, generator, "at load")

    # a click on the fourth draw chooses it; a slider moves its coordinate alone
    page.click(".kx-generator-explorer canvas.kx-draw[data-k='3']")
    clicked = page.evaluate(STATE, root)
    assert clicked["chosen"] == 3 and clicked["z"] == clicked["draws"][3]
    page.evaluate(SET, [root, "input.kx-slider[data-k='1']", -2.5, "input"])
    moved = page.evaluate(STATE, root)
    assert moved["z"][1] == -2.5 and moved["z"][:1] + moved["z"][2:] == (
        clicked["z"][:1] + clicked["z"][2:])
    assert moved["image"] != clicked["image"]
    check(moved, payload, generator, "after a slider move")

    # a reader's slide: 40 moves of two sliders, each redraw timed by the page itself
    page.evaluate(SLIDE, [root, 0, [-3 + 0.15 * i for i in range(20)]])
    page.evaluate(SLIDE, [root, 5, [2.9 - 0.15 * i for i in range(20)]])
    slid = page.evaluate(STATE, root)
    times = slid["redrawMs"][-40:]
    assert len(times) == 40
    print(f"slider redraw (decode and paint) in the page: median {statistics.median(times):.2f} ms, "
          f"max {max(times):.2f} ms over 40 moves")
    assert statistics.median(times) < 50
    assert slid["z"][0] == pytest.approx(-3 + 0.15 * 19) and slid["z"][5] == pytest.approx(0.05)
    check(slid, payload, generator, "after a slide")

    # new draws: the grid, the chosen draw (still the fourth) and the interpolation follow
    page.click(".kx-generator-explorer button.kx-redraw")
    fresh = page.evaluate(STATE, root)
    assert fresh["draws"] != first["draws"] and fresh["chosen"] == 3
    assert fresh["z"] == fresh["draws"][3]
    check(fresh, payload, generator, "after new draws")

    # the interpolation between two other draws, along t
    page.evaluate(SET, [root, "select.kx-from", 7, "change"])
    page.evaluate(SET, [root, "select.kx-to", 2, "change"])
    for t in (0.0, 0.3, 1.0):
        page.evaluate(SET, [root, "input.kx-t", t, "input"])
        walked = page.evaluate(STATE, root)
        assert (walked["a"], walked["b"], walked["t"]) == (7, 2, t)
        check(walked, payload, generator, f"along the interpolation at t = {t}")
    assert walked["between"] == walked["images"][2]  # t = 1 is draw b itself

    # the list chooses a draw too
    page.evaluate(SET, [root, "select.kx-choice", 9, "change"])
    listed = page.evaluate(STATE, root)
    assert listed["chosen"] == 9 and listed["z"] == listed["draws"][9]
    check(listed, payload, generator, "after the list")
    assert not page.kexue_problems and not page.kexue_blocked


@pytest.mark.parametrize("chapter, loader", [
    ("wasserstein-gan", "wgan_gp_full_run"),
    ("single-loss-gan", "hinge_gan_full_run"),
    ("orthogonal-gan", "ogan_full_run"),
])
def test_a_gan_page_explorer_runs_its_published_generator(offline_page, chapter, loader):
    """Each GAN chapter of the built book: its explorer runs the committed full run's generator
    (float16, batch norms folded) and matches that generator in torch; a slide redraws in well
    under 50 ms."""
    from kexue.gans import experiments

    shown = getattr(experiments, loader)()
    if shown is None:
        pytest.skip(f"no committed full record for {chapter}: the page explores its quick run")
    page = offline_page
    page.goto(f"{page.kexue_base}/chapters/part5-gans/{chapter}.html", wait_until="load")
    assert page.evaluate("() => document.querySelectorAll('.kx-widget[data-kind="
                         "\"generator-explorer\"]').length") == 1
    page.wait_for_function(f"() => {ROOT} && {ROOT}.dataset.ready === '1'")
    root = page.evaluate_handle(f"() => {ROOT}")
    payload = json.loads(page.evaluate("(r) => r.querySelector('.kx-data').textContent",
                                       root))["generator"]
    generator = shown["generator"]
    check(page.evaluate(STATE, root), payload, generator, "at load")
    page.evaluate(SLIDE, [root, 2, [-3 + 0.3 * i for i in range(21)]])
    slid = page.evaluate(STATE, root)
    check(slid, payload, generator, "after a slide")
    times = slid["redrawMs"][-21:]
    print(f"{chapter}: slider redraw median {statistics.median(times):.2f} ms over 21 moves")
    assert statistics.median(times) < 50
    assert not page.kexue_problems and not page.kexue_blocked
