"""The generator explorer (kexue.widgets.generator_explorer) without a browser: its static view is
self-contained, carries the exported generator and stays under 1 MB for Part V's generator; its
live view shows the torch generator's images of the draws, of the chosen draw as its sliders move
and along the interpolation; bad input is refused. (The page's JavaScript is held to the NumPy
reference and to torch in tests/book/test_generator_explorer.py.)"""
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import kexue as kx
from kexue.gans.networks import image_generator
from kexue.widgets.generator_explorer import SEED, SPAN, STEP, TIMINGS, generator_explorer
from kexue.widgets.page_networks import NETWORK_JS, export_network


@pytest.fixture(autouse=True)
def _seeded():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def small_generator():
    """A DCGAN-style generator small enough to run many times: latent 8 to (1, 28, 28)."""
    return image_generator(8, 4)


def payload_of(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" class="kx-data">(.*?)</script>',
                                html, re.S).group(1))


def shown(image_widget, scale) -> np.ndarray:
    """The live image's grey levels, one per image pixel."""
    return np.asarray(Image.open(io.BytesIO(image_widget.value)).convert("L"))[::scale, ::scale]


def grey(pixels) -> np.ndarray:
    return np.round(255 * (1 - np.clip(np.asarray(pixels, dtype=np.float64), 0, 1))).astype(np.uint8)


def torch_images(generator, z) -> np.ndarray:
    was_training = generator.training
    with torch.no_grad():
        out = generator.eval()(torch.as_tensor(np.asarray(z), dtype=torch.float32))
    generator.train(was_training)
    return out.reshape(len(out), 28, 28).numpy()


# -- the static view -------------------------------------------------------------------------------
def test_static_view_is_self_contained_and_under_a_megabyte():
    """Part V's generator, image_generator(64, 32): 237,153 float16 values after folding its batch
    norms, 632 kB in base64; the page code and controls add about 20 kB."""
    generator = image_generator(64, 32)
    ex = generator_explorer(generator, 64, title="<WGAN>")
    html = ex.static_html()
    size = len(html.encode())
    print(f"image_generator(64, 32): static block {size} bytes")
    assert 8 / 3 * 237_153 < size < 1_000_000
    assert not re.search(r"https?://", html)
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|<iframe\b|@import|url\(", html)
    assert re.search(r'class="kx-widget kx-generator-explorer"[^>]*data-kind="generator-explorer"',
                     html)
    assert html.count(NETWORK_JS) == 1 and "&lt;WGAN&gt;" in html
    data = payload_of(html)
    assert data["generator"] == export_network(generator, "generator")
    assert data["image_shape"] == [28, 28] and data["seed"] == SEED and data["timings"] == TIMINGS


def test_static_controls():
    ex = generator_explorer(small_generator(), 8, sliders=3, draws=5)
    html = ex.static_html()
    assert len(re.findall(r'<canvas class="kx-draw" data-k="\d"', html)) == 5
    assert html.count("<canvas") == 5 + 1 + 3  # the draws, the chosen one, the interpolation's
    inputs = re.findall(r'<input type="range" class="kx-slider" data-k="(\d)" min="([^"]+)" '
                        r'max="([^"]+)" step="([^"]+)"', html)
    assert inputs == [(str(k), str(-SPAN), str(SPAN), str(STEP)) for k in range(3)]
    for select in ("kx-choice", "kx-from", "kx-to"):
        options = re.search(rf'<select class="{select}"[^>]*>(.*?)</select>', html).group(1)
        assert re.findall(r"draw (\d)", options) == ["1", "2", "3", "4", "5"]
    assert re.search(r'<select class="kx-to"[^>]*><option value="0">draw 1</option>'
                     r'<option value="1" selected>', html)
    assert repr(ex) == "<GeneratorExplorer: 8-D latent, 28x28 images, 5 draws, 3 sliders>"


def test_bundle_offers_the_static_view_and_the_live_widget():
    assert kx.widgets.generator_explorer is generator_explorer
    bundle = generator_explorer(small_generator(), 8)._repr_mimebundle_()
    assert 'data-kind="generator-explorer"' in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_other_image_outputs():
    """An output of (28, 28) or of 784 values is a 28 x 28 image too."""
    flat = nn.Sequential(nn.Linear(3, 784), nn.Sigmoid())
    square = nn.Sequential(nn.Linear(3, 784), nn.Unflatten(1, (28, 28)))
    for net in (flat, square):
        ex = generator_explorer(net, 3, sliders=3)
        assert ex.image_shape == (28, 28) and ex.images(np.zeros((2, 3))).shape == (2, 28, 28)


# -- the live view ---------------------------------------------------------------------------------
def test_live_view_draws_moves_and_interpolates_with_the_torch_generator():
    generator = small_generator().train()
    ex = generator_explorer(generator, 8, sliders=4, draws=6)
    live = ex.widget()
    k_ = live.kx
    draws = np.random.default_rng(SEED).standard_normal((6, 8))
    np.testing.assert_array_equal(k_.state["draws"], draws)
    expected = torch_images(generator, draws)
    for cell, image in zip(k_.cells, expected, strict=True):
        assert (shown(cell, 3) == grey(image)).all()
    assert generator.training  # the training mode is restored
    # the chosen draw: the first, then the fourth; its sliders show its coordinates
    np.testing.assert_array_equal(k_.state["z"], draws[0])
    k_.choice.value = 3
    np.testing.assert_array_equal(k_.state["z"], draws[3])
    assert [s.value for s in k_.sliders] == pytest.approx(np.clip(draws[3, :4], -SPAN, SPAN))
    assert (shown(k_.chosen, 6) == grey(torch_images(generator, draws[3:4])[0])).all()
    # a slider moves its coordinate alone, and the image follows
    before = k_.chosen.value
    k_.sliders[2].value = -2.5
    z = draws[3].copy()
    z[2] = -2.5
    np.testing.assert_array_equal(k_.state["z"], z)
    assert k_.chosen.value != before
    assert (shown(k_.chosen, 6) == grey(torch_images(generator, z[None])[0])).all()
    # the interpolation: G((1 - t) z_a + t z_b) between G(z_a) and G(z_b)
    k_.a.value, k_.b.value, k_.t.value = 2, 5, 0.25
    path = torch_images(generator, [draws[2], 0.75 * draws[2] + 0.25 * draws[5], draws[5]])
    assert (shown(k_.ends[0], 3) == grey(path[0])).all()
    assert (shown(k_.between, 6) == grey(path[1])).all()
    assert (shown(k_.ends[1], 3) == grey(path[2])).all()
    # new draws: the grid, the chosen draw and the interpolation follow
    k_.redraw.click()
    fresh = k_.state["draws"]
    assert not np.array_equal(fresh, draws)
    np.testing.assert_array_equal(k_.state["z"], fresh[3])
    assert (shown(k_.cells[0], 3) == grey(torch_images(generator, fresh[:1])[0])).all()
    middle = torch_images(generator, [0.75 * fresh[2] + 0.25 * fresh[5]])[0]
    assert (shown(k_.between, 6) == grey(middle)).all()


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("generator, latent, kwargs, error, message", [
    (nn.Sequential(nn.Linear(8, 784), nn.Dropout(0.1)), 8, {}, TypeError,
     "unsupported layer 1 of the generator: Dropout"),
    (nn.Sequential(nn.Linear(8, 196), nn.Unflatten(1, (4, 7, 7)),
                   nn.Conv2d(4, 1, 3, padding=1, padding_mode="circular")), 8, {}, ValueError,
     "layer 2 of the generator, Conv2d.*pads in mode 'circular'"),
    (lambda z: z, 8, {}, TypeError, "generator must be an nn.Sequential"),
    (small_generator(), 0, {}, ValueError, "latent must be a positive int, got 0"),
    (small_generator(), 8.0, {}, ValueError, "latent must be a positive int, got 8.0"),
    (small_generator(), 16, {}, ValueError, "latent is 16 but the generator's first layer takes 8"),
    (small_generator(), 8, dict(sliders=9), ValueError, r"sliders \(9\) must be at most latent \(8\)"),
    (small_generator(), 8, dict(sliders=0), ValueError, "sliders must be a positive int"),
    (small_generator(), 8, dict(draws=1), ValueError, "draws must be at least 2"),
    (small_generator(), 8, dict(title=1), TypeError, "title must be a string"),
    (nn.Sequential(nn.Linear(8, 3 * 49), nn.Unflatten(1, (3, 7, 7))), 8, {}, ValueError,
     r"the generator's output of shape \(3, 7, 7\) is not one grey image"),
    (nn.Sequential(nn.Linear(8, 10)), 8, {}, ValueError, r"output of shape \(10,\) is not one grey"),
])
def test_bad_input_is_refused(generator, latent, kwargs, error, message):
    with pytest.raises(error, match=message):
        generator_explorer(generator, latent, **kwargs)


def test_images_refuses_bad_codes():
    ex = generator_explorer(small_generator(), 8)
    with pytest.raises(ValueError, match=r"z must be finite codes of shape \(n, 8\)"):
        ex.images(np.zeros(8))
    with pytest.raises(ValueError, match=r"z must be finite codes"):
        ex.images(np.full((1, 8), np.nan))
