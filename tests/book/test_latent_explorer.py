"""The latent-space explorer's static view in headless Chromium, with the network cut off: the page
runs the decoder itself, and for whatever z a slider, a click or a drag on the pad, a cluster
button or the "sample" button picks, its pixels are the float32 torch decoder's to 0.02 (float16
weights) and the NumPy reference's (:func:`decode_exported`, the same float16 weights) to 1e-4;
the canvases show those pixels; a decode is fast; nothing is logged as an error. Then the same in
every page of the built book that holds an explorer."""
import json
import statistics

import numpy as np
import pytest
import torch
from torch import nn

from kexue.vae.networks import mlp_decoder
from kexue.widgets.latent_explorer import decode_exported, export_decoder, latent_explorer

#: The page's float16 weights against the float32 torch decoder (measured: about 3e-4).
TORCH_TOL = 0.02
#: The page's float64 arithmetic against NumPy's on the same float16 weights: only the order of
#: the sums and the final rounding to float32 differ (measured: about 6e-8).
REFERENCE_TOL = 1e-4

ROOT = "document.querySelector('.kx-widget[data-kind=\"latent-explorer\"][data-latent-dim=\"%d\"]')"

#: JS: the explorer's state (z, pixels) and the grey levels its image canvas shows.
STATE = """(root) => {
  const c = root.querySelector('canvas.kx-image');
  const im = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  const grey = [];
  for (let i = 0; i < im.data.length; i += 4) grey.push(im.data[i]);
  return {z: root.kxExplorer.z, pixels: Array.from(root.kxExplorer.pixels), grey: grey,
          cluster: root.kxExplorer.cluster,
          offsets: Array.from(root.querySelectorAll('output.kx-value')).map(o => o.textContent)};
}"""

#: JS: set slider k to a value, firing the event a reader's hand fires.
SET_SLIDER = """([root, k, value]) => {
  const input = root.querySelectorAll('input.kx-slider')[k];
  input.value = String(value);
  input.dispatchEvent(new Event('input', {bubbles: true}));
  return +input.value;
}"""


def decoder_2d():
    return mlp_decoder([2, 64, 128, 784], seed=3)


def decoder_10d():
    """Every activation the page knows, a nested Sequential and a Linear without bias."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        return nn.Sequential(nn.Linear(10, 48), nn.LeakyReLU(0.2),
                             nn.Sequential(nn.Linear(48, 64), nn.ELU(0.7), nn.Identity()),
                             nn.Linear(64, 64, bias=False), nn.SiLU(), nn.Linear(64, 96), nn.Tanh(),
                             nn.Linear(96, 784), nn.Sigmoid())


@pytest.fixture(scope="module")
def explorers():
    g = torch.Generator().manual_seed(5)
    codes = torch.randn(4000, 2, generator=g) * torch.tensor([1.5, 0.8]) + torch.tensor([0.5, -0.3])
    labels = torch.randint(0, 4, (4000,), generator=g)
    two = latent_explorer(decoder_2d(), codes=codes, labels=labels,
                          class_names=["a", "b", "c", "d"], title="a 2-D latent")
    means = torch.randn(5, 10, generator=g)
    ten = latent_explorer(decoder_10d(), cluster_means=means, cluster_names=list("vwxyz"),
                          image_shape=(16, 49))  # not square: rows and columns must not swap
    return {2: two, 10: ten}


@pytest.fixture
def page(standalone_page, explorers):
    """Both explorers on one page (each must keep to its own elements)."""
    page = standalone_page(explorers[2].static_html() + explorers[10].static_html(), "explorers")
    for d in (2, 10):
        page.wait_for_function(f"() => {ROOT % d} && {ROOT % d}.dataset.ready === '1'")
    return page


def root(page, d):
    return page.evaluate_handle(f"() => {ROOT % d}")


def state(page, d) -> dict:
    s = page.evaluate(STATE, root(page, d))
    return {**s, "z": np.array(s["z"], dtype=float), "pixels": np.array(s["pixels"]),
            "grey": np.array(s["grey"])}


def torch_pixels(decoder, z) -> np.ndarray:
    with torch.no_grad():
        return decoder(torch.tensor(np.asarray(z), dtype=torch.float32)[None])[0].numpy()


def check_pixels(explorer, s, where=""):
    """The page's pixels at its z against torch and the NumPy reference, and its canvas against
    its pixels (grey level 255 (1 - clip(p, 0, 1)), rounded)."""
    payload = export_decoder(explorer.decoder)
    vs_torch = np.abs(s["pixels"] - torch_pixels(explorer.decoder, s["z"])).max()
    vs_numpy = np.abs(s["pixels"] - decode_exported(payload, s["z"])).max()
    assert vs_torch < TORCH_TOL, f"{where}: {vs_torch:.3g} from the torch decoder"
    assert vs_numpy < REFERENCE_TOL, f"{where}: {vs_numpy:.3g} from the NumPy reference"
    expected = np.round(255 * (1 - np.clip(s["pixels"], 0, 1)))
    assert np.abs(s["grey"] - expected).max() <= 1, where  # the canvas may round once more
    return vs_torch, vs_numpy


def assert_clean(page):
    problems = page.kexue_problems + page.kexue_blocked
    assert problems == [], problems


# -- the 2-D pad -----------------------------------------------------------------------------------
def test_sliders_move_z_and_the_image_follows(page, explorers):
    ex, errors = explorers[2], []
    start = state(page, 2)
    assert np.allclose(start["z"], ex.start)  # the centre of the pad
    errors.append(check_pixels(ex, start, "start"))
    for k, value in ((0, -2.0), (1, 1.5), (0, 3.0)):
        before = state(page, 2)
        got = page.evaluate(SET_SLIDER, [root(page, 2), k, value])
        after = state(page, 2)
        assert after["z"][k] == got and after["z"][1 - k] == before["z"][1 - k]
        assert abs(got - value) <= (ex.bounds[k][1] - ex.bounds[k][0]) / 200  # the slider's step
        assert np.abs(after["grey"] - before["grey"]).max() > 0, f"slider {k}: the image did not change"
        errors.append(check_pixels(ex, after, f"z{k + 1} = {value}"))
    print("2-D page: max |page - torch| %.2g, max |page - NumPy| %.2g"
          % tuple(np.max(errors, axis=0)))
    assert state(page, 10)["cluster"] == 0  # the other explorer kept its state
    assert_clean(page)


def test_a_click_and_a_drag_on_the_pad_pick_z(page, explorers):
    ex = explorers[2]
    (x0, x1), (y0, y1) = ex.pad_limits
    box = ex.payload()["pad"]["box"]
    pad = page.locator(f"#{page.evaluate(f'() => {ROOT % 2}.id')} canvas.kx-pad")
    rect = pad.bounding_box()
    width = page.evaluate("(c) => c.width", pad.element_handle())
    scale = rect["width"] / width  # CSS pixels per canvas pixel

    def where(z):  # the page position of z on the pad
        return (rect["x"] + scale * (box[0] + (z[0] - x0) / (x1 - x0) * (box[2] - box[0])),
                rect["y"] + scale * (box[3] - (z[1] - y0) / (y1 - y0) * (box[3] - box[1])))

    one_pixel = (x1 - x0) / (box[2] - box[0]) / scale + 1e-9
    before = state(page, 2)
    target = np.array([x0 + 0.3 * (x1 - x0), y0 + 0.8 * (y1 - y0)])
    page.mouse.click(*where(target))
    clicked = state(page, 2)
    assert np.abs(clicked["z"] - target).max() <= one_pixel, (clicked["z"], target)
    assert np.abs(clicked["grey"] - before["grey"]).max() > 0
    check_pixels(ex, clicked, "click")
    # the sliders follow
    values = page.evaluate("(r) => Array.from(r.querySelectorAll('input.kx-slider'), i => +i.value)",
                           root(page, 2))
    assert np.abs(np.array(values) - target).max() <= (x1 - x0) / 200 + one_pixel
    # a drag ends where the pointer is released; the crosshair moves with it
    pad_before = pad.evaluate("(c) => c.toDataURL()")
    end = np.array([x0 + 0.75 * (x1 - x0), y0 + 0.2 * (y1 - y0)])
    page.mouse.move(*where(target))
    page.mouse.down()
    for t in np.linspace(0, 1, 6)[1:]:
        page.mouse.move(*where(target + t * (end - target)))
    page.mouse.up()
    dragged = state(page, 2)
    assert np.abs(dragged["z"] - end).max() <= one_pixel, (dragged["z"], end)
    assert pad.evaluate("(c) => c.toDataURL()") != pad_before
    check_pixels(ex, dragged, "drag")
    assert_clean(page)


def test_the_crosshair_marks_z(page, explorers):
    """The pad's pixel at z is the mark's colour; a pixel on neither line is the picture's."""
    ex = explorers[2]
    page.evaluate(SET_SLIDER, [root(page, 2), 0, 1.0])
    page.evaluate(SET_SLIDER, [root(page, 2), 1, 0.5])
    z = state(page, 2)["z"]
    (x0, x1), (y0, y1) = ex.pad_limits
    box = ex.payload()["pad"]["box"]
    px = box[0] + (z[0] - x0) / (x1 - x0) * (box[2] - box[0])
    rgb = page.evaluate("([r, x, y]) => Array.from(r.querySelector('canvas.kx-pad').getContext('2d')"
                        ".getImageData(x, y, 1, 1).data)",
                        [root(page, 2), int(np.floor(px)), int(np.ceil(box[1])) + 2])
    assert rgb[0] > 150 and rgb[1] < 120 and rgb[2] < 120, rgb  # the vertical line, near the top


# -- clusters --------------------------------------------------------------------------------------
def test_cluster_buttons_sample_and_sliders(page, explorers):
    ex = explorers[10]
    means = ex.cluster_means
    first = state(page, 10)
    assert first["cluster"] == 0 and np.array_equal(first["z"], means[0])
    check_pixels(ex, first, "cluster 0")
    # each button's thumbnail shows its decoded mean
    thumbs = page.evaluate("""(r) => Array.from(r.querySelectorAll('button.kx-cluster canvas'), c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, g = [];
        for (let i = 0; i < d.length; i += 4) g.push(d[i]);
        return g; })""", root(page, 10))
    payload = export_decoder(ex.decoder)
    for k, thumb in enumerate(thumbs):
        expected = np.round(255 * (1 - np.clip(decode_exported(payload, means[k]), 0, 1)))
        assert np.abs(np.array(thumb) - expected).max() <= 1, k
    buttons = page.locator(f"#{page.evaluate(f'() => {ROOT % 10}.id')} button.kx-cluster")
    images = {0: first["grey"]}
    for k in (3, 1):
        buttons.nth(k).click()
        s = state(page, 10)
        assert s["cluster"] == k and np.array_equal(s["z"], means[k])
        assert buttons.nth(k).get_attribute("aria-pressed") == "true"
        assert set(s["offsets"]) == {"0.00"}
        check_pixels(ex, s, f"cluster {k}")
        images[k] = s["grey"]
    assert all(np.abs(images[a] - images[b]).max() > 0 for a, b in ((0, 3), (3, 1), (0, 1)))
    # a slider moves one coordinate away from the mean
    page.evaluate(SET_SLIDER, [root(page, 10), 7, -2.4])
    s = state(page, 10)
    offset = s["z"] - means[1]
    assert abs(offset[7] + 2.4) < 0.03 + 1e-9 and np.abs(np.delete(offset, 7)).max() < 1e-12
    check_pixels(ex, s, "cluster 1, slider 8")
    # "sample": z ~ N(mean, I) from the page's seeded generator: new draws each press
    sample = page.locator(f"#{page.evaluate(f'() => {ROOT % 10}.id')} button.kx-sample")
    draws = []
    for _ in range(3):
        sample.click()
        s = state(page, 10)
        draws.append(s["z"] - means[1])
        check_pixels(ex, s, "sample")
    draws = np.array(draws)
    assert len({tuple(d) for d in draws}) == 3 and np.abs(draws).max() < 6
    assert 0.3 < draws.std() < 2.0, draws.std()  # 30 standard normal draws
    # "back to the mean"
    page.locator(f"#{page.evaluate(f'() => {ROOT % 10}.id')} button.kx-reset").click()
    assert np.array_equal(state(page, 10)["z"], means[1])
    assert_clean(page)


def test_the_page_decoder_over_random_z(page, explorers):
    """decode(z) of both explorers at 30 random z each (|z| up to ~6, well off the means)."""
    rng = np.random.default_rng(0)
    worst = []
    for d in (2, 10):
        zs = rng.normal(size=(30, d)) * 2.5
        got = np.array(page.evaluate("([r, zs]) => zs.map(z => Array.from(r.kxExplorer.decode(z)))",
                                     [root(page, d), zs.tolist()]))
        ex = explorers[d]
        with torch.no_grad():
            ref = ex.decoder(torch.tensor(zs, dtype=torch.float32)).numpy()
        vs_torch = np.abs(got - ref).max()
        vs_numpy = np.abs(got - decode_exported(export_decoder(ex.decoder), zs)).max()
        worst.append((vs_torch, vs_numpy))
        assert vs_torch < TORCH_TOL and vs_numpy < REFERENCE_TOL, (d, vs_torch, vs_numpy)
    print("random z: max |page - torch| %.2g, max |page - NumPy| %.2g" % tuple(np.max(worst, axis=0)))


def test_a_decode_of_a_2_256_512_784_decoder_is_fast(standalone_page):
    """A decoder of the size Part III trains: one decode, and one slider event up to the painted
    canvas; medians over 50 runs."""
    ex = latent_explorer(mlp_decoder([2, 256, 512, 784], seed=0))
    page = standalone_page(ex.static_html(), "big")
    page.wait_for_function(f"() => {ROOT % 2} && {ROOT % 2}.dataset.ready === '1'")
    times = page.evaluate(f"""() => {{
      const r = {ROOT % 2}, input = r.querySelector('input.kx-slider');
      const ctx = r.querySelector('canvas.kx-image').getContext('2d'), decode = [], event = [];
      for (let i = 0; i < 50; i++) {{
        let t0 = performance.now();
        r.kxExplorer.decode([Math.sin(i), Math.cos(i)]);
        decode.push(performance.now() - t0);
        t0 = performance.now();
        input.value = String(-2 + 0.08 * i);
        input.dispatchEvent(new Event('input', {{bubbles: true}}));
        ctx.getImageData(0, 0, 1, 1);
        event.push(performance.now() - t0);
      }}
      return {{decode, event}};
    }}""")
    decode, event = statistics.median(times["decode"]), statistics.median(times["event"])
    loaded = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
    print(f"2-256-512-784 in the page: loaded (1.4 MB parsed, weights decoded, first image) "
          f"in {loaded:.0f} ms; decode median {decode:.2f} ms, slider event to pixels median "
          f"{event:.2f} ms (max {max(times['event']):.2f} ms)")
    assert decode < 20 and event < 40, (decode, event)
    check_pixels(ex, state(page, 2), "big decoder")
    assert_clean(page)


# -- the built book --------------------------------------------------------------------------------
TORCH_ACTIVATIONS = {"relu": lambda a: nn.ReLU(), "leaky_relu": lambda a: nn.LeakyReLU(a["slope"]),
                     "tanh": lambda a: nn.Tanh(), "sigmoid": lambda a: nn.Sigmoid(),
                     "silu": lambda a: nn.SiLU(), "elu": lambda a: nn.ELU(a["alpha"]),
                     "identity": lambda a: nn.Identity()}


def torch_decoder(payload: dict) -> nn.Sequential:
    """The page's network rebuilt as a torch decoder (float64) from the page's own payload: the
    notebook's model is gone by the time the book is read, its weights are in the page."""
    import base64

    layers = []
    for layer in payload["layers"]:
        if layer["type"] == "linear":
            linear = nn.Linear(layer["in"], layer["out"]).double()
            with torch.no_grad():
                for name, shape in (("weight", (layer["out"], layer["in"])), ("bias", (layer["out"],))):
                    values = np.frombuffer(base64.b64decode(layer[name]), dtype="<f2")
                    getattr(linear, name).copy_(torch.from_numpy(values.astype(np.float64).reshape(shape)))
            layers.append(linear)
        else:
            layers.append(TORCH_ACTIVATIONS[layer["type"]](layer))
    return nn.Sequential(*layers)


def test_explorers_in_the_built_book(offline_page, html_dir):
    """Each explorer in the built book: a slider moves z, the image changes, and the page's pixels
    at its z are those of the torch decoder with the page's own weights (and of the NumPy
    reference)."""
    docs = sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html")
                  if 'data-kind="latent-explorer"' in p.read_text(encoding="utf-8", errors="replace"))
    if not docs:
        pytest.skip("no page of the built book holds a latent explorer yet")
    page = offline_page
    for doc in docs:
        page.goto(f"{page.kexue_base}/{doc}", wait_until="load")
        ids = page.eval_on_selector_all('.kx-widget[data-kind="latent-explorer"]',
                                        "els => els.map(e => e.id)")
        assert ids, doc
        for uid in ids:
            r = page.evaluate_handle(f"() => document.getElementById('{uid}')")
            page.wait_for_function("(r) => r.dataset.ready === '1'", arg=r)
            payload = json.loads(page.evaluate("(r) => r.querySelector('.kx-data').textContent", r))
            before = page.evaluate(STATE, r)
            slider = page.evaluate("(r) => { const i = r.querySelector('input.kx-slider'); "
                                   "return [+i.min, +i.max, +i.value]; }", r)
            target = slider[0] if slider[2] > (slider[0] + slider[1]) / 2 else slider[1]
            page.evaluate(SET_SLIDER, [r, 0, target])
            after = page.evaluate(STATE, r)
            assert after["grey"] != before["grey"], f"{doc} {uid}: the image did not change"
            assert after["z"][0] != before["z"][0], f"{doc} {uid}: z did not move"
            expected = decode_exported(payload["decoder"], after["z"])
            gap = np.abs(np.array(after["pixels"]) - expected).max()
            assert gap < REFERENCE_TOL, f"{doc} {uid}: {gap:.3g} from the NumPy reference"
            with torch.no_grad():
                by_torch = torch_decoder(payload["decoder"])(
                    torch.tensor(after["z"], dtype=torch.float64)).numpy()
            gap = np.abs(np.array(after["pixels"]) - by_torch).max()
            assert gap < REFERENCE_TOL, f"{doc} {uid}: {gap:.3g} from the torch decoder"
        assert page.kexue_blocked == [], f"{doc}: requests outside the book: {page.kexue_blocked}"
        assert page.kexue_problems == [], "\n".join(page.kexue_problems)
