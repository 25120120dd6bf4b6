"""The latent-space explorer without a browser: the exported decoder round-trips its float16
weights exactly and :func:`decode_exported` runs the same network as torch (exactly on weights that
are float16 already, within float16 rounding on others); the explorer's pad, sliders and clusters
are laid out as documented; the live widget shows the torch decoder's image of the sliders' z; the
static view is self-contained and its size bounded; bad input is refused. (The page's JavaScript
is held to torch and to decode_exported in tests/book/test_latent_explorer.py.)"""
import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import kexue as kx
from kexue.vae.networks import mlp_decoder
from kexue.widgets.latent_explorer import (
    DECODER_JS,
    FORMAT,
    MARK,
    MAX_POINTS,
    SEED,
    decode_exported,
    export_decoder,
    latent_explorer,
)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test draws the same weights and codes, whatever ran before it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def every_activation(dtype=torch.float32):
    """A decoder using every supported activation, a nested Sequential and a bias-free Linear."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 16), nn.LeakyReLU(0.1),
                         nn.Sequential(nn.Linear(16, 16), nn.ELU(0.5), nn.Identity()),
                         nn.Linear(16, 16, bias=False), nn.SiLU(), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 12), nn.Sigmoid()).to(dtype)


def payload_of(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" class="kx-data">(.*?)</script>',
                                html, re.S).group(1))


def grey(pixels) -> np.ndarray:
    """What the explorer shows: pixels clipped to [0, 1] as grey levels, 1 black."""
    return np.round(255 * (1 - np.clip(np.asarray(pixels, dtype=np.float64), 0, 1))).astype(np.uint8)


def png_pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"))


def shown(image_widget) -> np.ndarray:
    """The live image's pixels, one per image pixel (the PNG scales each up to 6 x 6)."""
    return png_pixels(image_widget.value)[::6, ::6]


def torch_image(decoder, z, shape=(28, 28)) -> np.ndarray:
    with torch.no_grad():
        return decoder(torch.as_tensor(np.asarray(z), dtype=torch.float32)[None]).reshape(shape).numpy()


# -- the exported decoder --------------------------------------------------------------------------
def test_export_round_trips_the_float16_weights_exactly():
    decoder = every_activation()
    payload = export_decoder(decoder)
    assert json.loads(json.dumps(payload)) == payload
    assert payload["format"] == FORMAT and payload["latent_dim"] == 3 and payload["output_dim"] == 12
    assert [layer["type"] for layer in payload["layers"]] == [
        "linear", "leaky_relu", "linear", "elu", "identity", "linear", "silu", "linear", "tanh",
        "linear", "relu", "linear", "sigmoid"]
    assert payload["layers"][1]["slope"] == 0.1 and payload["layers"][3]["alpha"] == 0.5
    linears = [m for m in decoder.modules() if isinstance(m, nn.Linear)]
    exported = [layer for layer in payload["layers"] if layer["type"] == "linear"]
    for m, layer in zip(linears, exported, strict=True):
        w = np.frombuffer(base64.b64decode(layer["weight"]), dtype="<f2")
        b = np.frombuffer(base64.b64decode(layer["bias"]), dtype="<f2")
        np.testing.assert_array_equal(w.reshape(layer["out"], layer["in"]), m.weight.detach().half())
        bias = m.bias.detach().half().numpy() if m.bias is not None else np.zeros(m.out_features)
        np.testing.assert_array_equal(b, bias)


def test_decode_exported_is_the_torch_network_on_float16_weights():
    """On a float64 decoder whose weights are float16 values already, the NumPy reference and torch
    compute the same function: they agree to float64 rounding (then float32, what both return)."""
    decoder = every_activation(torch.float64)
    with torch.no_grad():
        for p in decoder.parameters():
            p.copy_(p.half().double() * 4)  # still float16; large enough to use both sides of
            # every activation
    z = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad():
        expected = decoder(z).float().numpy()
    got = decode_exported(export_decoder(decoder), z.numpy())
    assert got.dtype == np.float32 and got.shape == (64, 12)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-7)  # one float32 rounding apart
    np.testing.assert_array_equal(decode_exported(export_decoder(decoder), z[5].numpy()), got[5])


def test_float16_weights_stay_close_to_the_float32_decoder():
    """A 2-256-512-784 decoder (the size Part III trains): rounding its weights to float16
    (relative error at most 2^-11, about 5e-4) moves a pixel by at most 1e-3 at z up to about 3
    standard deviations from 0 (measured: about 2e-4; the sigmoid's slope is at most 1/4)."""
    decoder = mlp_decoder([2, 256, 512, 784], seed=0)
    z = torch.randn(300, 2, generator=torch.Generator().manual_seed(2)) * 3
    with torch.no_grad():
        expected = decoder(z).numpy()
    gap = np.abs(decode_exported(export_decoder(decoder), z.numpy()) - expected).max()
    print(f"float16 export against the float32 decoder: max pixel difference {gap:.2g}")
    assert 0 < gap < 1e-3


def test_the_page_code_names_every_activation():
    for name in ("relu", "leaky_relu", "tanh", "sigmoid", "silu", "elu", "identity"):
        assert re.search(rf"\b{name}: ", DECODER_JS), name


# -- construction ----------------------------------------------------------------------------------
def test_a_2d_latent_gets_a_pad_over_the_codes():
    g = torch.Generator().manual_seed(3)
    codes = torch.randn(5000, 2, generator=g) * torch.tensor([2.0, 0.5]) + torch.tensor([1.0, 4.0])
    labels = torch.randint(0, 3, (5000,), generator=g)
    ex = latent_explorer(mlp_decoder([2, 8, 784], seed=0), codes=codes, labels=labels)
    assert ex.latent_dim == 2 and ex.class_names == ["0", "1", "2"]
    # a fixed random subset of MAX_POINTS codes, each with its own label
    assert ex.codes.shape == (MAX_POINTS, 2) and ex.labels.shape == (MAX_POINTS,)
    keep = np.random.default_rng(SEED).permutation(5000)[:MAX_POINTS]
    np.testing.assert_array_equal(ex.codes, codes.double().numpy()[keep])
    np.testing.assert_array_equal(ex.labels, labels.numpy()[keep])
    # the pad: a square around the codes with equal scales; the sliders are z1 and z2 over it
    (x0, x1), (y0, y1) = ex.pad_limits
    lo, hi = ex.codes.min(0), ex.codes.max(0)
    assert x1 - x0 == pytest.approx(y1 - y0) and x1 - x0 == pytest.approx(1.05 * (hi - lo).max())
    assert x0 < lo[0] and hi[0] < x1 and y0 < lo[1] and hi[1] < y1
    assert ex.bounds == [(x0, x1), (y0, y1)] and ex.start == [(x0 + x1) / 2, (y0 + y1) / 2]
    # without codes: [-span, span]
    bare = latent_explorer(mlp_decoder([2, 8, 784], seed=0), span=2.5)
    assert bare.pad_limits == ((-2.5, 2.5), (-2.5, 2.5)) and bare.start == [0.0, 0.0]


def test_clusters_and_higher_latents_get_offset_sliders():
    means = torch.randn(4, 6, generator=torch.Generator().manual_seed(4))
    ex = latent_explorer(mlp_decoder([6, 8, 100], seed=0), cluster_means=means, span=2.0,
                         image_shape=(10, 10), title="six")
    assert ex.cluster_names == [f"cluster {k}" for k in range(4)] and ex.pad_limits is None
    assert ex.bounds == [(-2.0, 2.0)] * 6 and ex.start == [0.0] * 6
    assert repr(ex) == "<LatentExplorer: 6-D latent, 10x10 image, 4 clusters>"
    plain = latent_explorer(mlp_decoder([5, 8, 784], seed=0))
    assert plain.bounds == [(-3.0, 3.0)] * 5 and plain.cluster_means is None
    # a 2-D latent with clusters: the pad covers the means, the sliders are offsets from them
    both = latent_explorer(mlp_decoder([2, 8, 784], seed=0), cluster_means=means[:, :2] * 5,
                           cluster_names=list("abcd"))
    (x0, x1), (y0, y1) = both.pad_limits
    assert all(x0 < x < x1 and y0 < y < y1 for x, y in both.cluster_means)
    assert x1 - x0 == pytest.approx(y1 - y0) and x1 - x0 > 6
    assert both.bounds == [(-3.0, 3.0)] * 2
    inside = latent_explorer(mlp_decoder([2, 8, 784], seed=0), cluster_means=torch.tensor([[0.5, 2.0]]))
    assert inside.pad_limits == ((-3.0, 3.0), (-3.0, 3.0))


def test_decode_is_the_torch_decoder_in_eval_mode_and_restores_the_mode():
    decoder = nn.Sequential(nn.Linear(2, 784), nn.Dropout(0.5))  # not a supported layer...
    with pytest.raises(TypeError, match="unsupported layer 1 of the decoder: Dropout"):
        latent_explorer(decoder)
    decoder = mlp_decoder([2, 16, 784], seed=0).train()
    ex = latent_explorer(decoder)
    image = ex.decode([0.3, -0.7])
    assert image.shape == (28, 28) and decoder.training
    np.testing.assert_array_equal(image, torch_image(decoder, [0.3, -0.7]))
    with pytest.raises(ValueError, match="z must be 2 finite numbers"):
        ex.decode([0.0, float("nan")])


# -- the pictures ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, scale", [((28, 28), 6), ((14, 56), 3)])
def test_png_is_the_decoded_image_scaled_up(shape, scale):
    decoder = nn.Sequential(nn.Linear(2, 784))  # raw outputs outside [0, 1] are clipped
    ex = latent_explorer(decoder, image_shape=shape)
    z = [2.0, -1.0]
    picture = png_pixels(ex.png(z))
    assert picture.shape == (scale * shape[0], scale * shape[1])  # about 168 pixels the longer way
    expected = grey(torch_image(decoder, z, shape))
    np.testing.assert_array_equal(picture, np.kron(expected, np.ones((scale, scale), dtype=np.uint8)))
    assert (expected == 0).any() and (expected == 255).any()


def test_pad_png_marks_z_with_a_crosshair():
    ex = latent_explorer(mlp_decoder([2, 8, 784], seed=0), codes=torch.randn(200, 2),
                         labels=torch.arange(200) % 5)
    left, top, right, bottom = ex.payload()["pad"]["box"]
    (x0, x1), (y0, y1) = ex.pad_limits
    mark = np.array([int(MARK[i:i + 2], 16) for i in (1, 3, 5)])
    for z in ([0.0, 0.0], [x0 + 0.2 * (x1 - x0), y1 - 0.1 * (y1 - y0)]):
        rgb = np.asarray(Image.open(io.BytesIO(ex.pad_png(z))).convert("RGB"), dtype=int)
        col = left + (z[0] - x0) / (x1 - x0) * (right - left)
        row = bottom - (z[1] - y0) / (y1 - y0) * (bottom - top)
        # the vertical line near the top of the axes, the horizontal one near the left edge
        c, r = int(round(col)), int(round(row))
        assert np.abs(rgb[int(top) + 3, c - 1:c + 2] - mark).sum(1).min() < 30
        assert np.abs(rgb[r - 1:r + 2, int(left) + 3] - mark).sum(1).min() < 30
    # the pad's own picture has the axes box at pad_limits: its frame is dark along the box
    png = base64.b64decode(ex.payload()["pad"]["png"])
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    mid = int((top + bottom) / 2)
    assert rgb[mid, int(round(left)) - 1:int(round(left)) + 1].max(1).min() < 80


# -- the static view -------------------------------------------------------------------------------
@pytest.mark.parametrize("widths, limit", [([2, 256, 512, 784], 1_600_000), ([10, 256, 784], 600_000)])
def test_static_view_is_self_contained_and_bounded(widths, limit):
    """float16 weights take 2 bytes each, 8/3 after base64: 1.43 MB for the 534,544 parameters of
    a 2-256-512-784 decoder, 0.55 MB for 10-256-784; page code and clusters add a little, the
    full-colour pad picture of 3000 points about 0.1 MB."""
    decoder = mlp_decoder(widths, seed=0)
    d = widths[0]
    kwargs = (dict(codes=torch.randn(3000, 2), labels=torch.arange(3000) % 10) if d == 2 else
              dict(cluster_means=torch.randn(10, d)))
    html = latent_explorer(decoder, **kwargs, title="<size>").static_html()
    size = len(html.encode())
    params = sum(p.numel() for p in decoder.parameters())
    print(f"{'-'.join(map(str, widths))}: static block {size} bytes ({params} parameters)")
    assert 8 / 3 * params < size < limit
    assert not re.search(r"https?://", html)
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|<iframe\b|@import|url\(", html)
    assert re.search(r'class="kx-widget kx-latent-explorer"[^>]*data-kind="latent-explorer"', html)
    assert 'data-kind="slider-figure"' not in html  # the book's slider-figure checks pass it by
    assert html.count(DECODER_JS) == 1 and "&lt;size&gt;" in html
    assert html.count('type="range"') == d and html.count("<canvas") == 1 + (d == 2) + (d != 2) * 10


def test_static_payload_holds_the_decoder_clusters_and_pad():
    means = torch.randn(3, 2)
    decoder = mlp_decoder([2, 8, 784], seed=0)
    ex = latent_explorer(decoder, cluster_means=means, cluster_names=["a</script>", "b", "c"])
    html = ex.static_html()
    data = payload_of(html)
    assert data["decoder"] == export_decoder(decoder)
    assert data["clusters"] == {"means": means.double().tolist(), "names": ["a</script>", "b", "c"]}
    assert html.count("</script>") == 2  # a name cannot close the payload's <script> early
    assert data["image_shape"] == [28, 28] and data["start"] == [0.0, 0.0] and data["seed"] == SEED
    pad = data["pad"]
    image = Image.open(io.BytesIO(base64.b64decode(pad["png"])))
    assert image.size == (pad["width"], pad["height"])
    left, top, right, bottom = pad["box"]
    assert 0 < left < right < pad["width"] and 0 < top < bottom < pad["height"]
    assert [pad["xlim"], pad["ylim"]] == [list(lim) for lim in ex.pad_limits]
    assert latent_explorer(mlp_decoder([4, 8, 784], seed=0)).payload()["pad"] is None


def test_static_sliders_span_the_bounds_from_the_start():
    for ex in (latent_explorer(mlp_decoder([2, 8, 784], seed=0), codes=torch.randn(50, 2) + 3),
               latent_explorer(mlp_decoder([3, 8, 784], seed=0), cluster_means=torch.ones(2, 3),
                               span=1.5)):
        inputs = re.findall(r'<input type="range" class="kx-slider" data-k="(\d+)" min="([^"]+)" '
                            r'max="([^"]+)" step="([^"]+)" value="([^"]+)" aria-label="([^"]+)"',
                            ex.static_html())
        assert [int(k) for k, *_ in inputs] == list(range(ex.latent_dim))
        assert [(float(lo), float(hi)) for _, lo, hi, *_ in inputs] == ex.bounds
        assert [float(v) for *_, v, _ in inputs] == ex.start
        assert [float(step) for _, lo, hi, step, *_ in inputs] == [(hi - lo) / 200 for lo, hi in ex.bounds]
        assert [name for *_, name in inputs] == ex._slider_names()


def test_bundle_offers_the_static_view_and_the_live_widget():
    assert kx.widgets.latent_explorer is latent_explorer
    bundle = latent_explorer(mlp_decoder([3, 8, 784], seed=0))._repr_mimebundle_()
    assert 'data-kind="latent-explorer"' in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "<LatentExplorer: 3-D latent, 28x28 image>"


# -- the live view ---------------------------------------------------------------------------------
def test_live_sliders_redraw_the_torch_decoders_image_and_the_pad():
    decoder = mlp_decoder([2, 32, 784], seed=1).train()
    ex = latent_explorer(decoder, codes=torch.randn(100, 2) * 2, labels=torch.arange(100) % 2)
    live = ex.widget()
    sliders, image, pad = live.kx.sliders, live.kx.image, live.kx.pad
    assert [s.description for s in sliders] == ["z1", "z2"]
    z = live.kx.z()
    np.testing.assert_allclose(z, ex.start)
    assert shown(image).tolist() == grey(torch_image(decoder, z)).tolist()
    before_image, before_pad = image.value, pad.value
    sliders[0].value = sliders[0].min + 0.1 * (sliders[0].max - sliders[0].min)
    sliders[1].value = 0.75
    z = live.kx.z()
    assert z.tolist() == [sliders[0].value, 0.75]
    assert image.value != before_image and pad.value != before_pad
    assert shown(image).tolist() == grey(torch_image(decoder, z)).tolist()
    assert pad.value == ex.pad_png(z) and decoder.training  # the training mode is restored
    live.kx.reset.click()
    np.testing.assert_allclose(live.kx.z(), ex.start)
    assert image.value == before_image


def test_live_clusters_sample_and_reset():
    decoder = mlp_decoder([5, 32, 784], seed=2)
    means = torch.randn(3, 5, generator=torch.Generator().manual_seed(5))
    live = latent_explorer(decoder, cluster_means=means, cluster_names=list("abc")).widget()
    kx_ = live.kx
    assert [b.description for b in kx_.clusters] == ["a", "b", "c"]
    np.testing.assert_array_equal(kx_.z(), means[0].double().numpy())
    assert kx_.clusters[0].button_style == "info"
    kx_.clusters[2].click()
    np.testing.assert_array_equal(kx_.z(), means[2].double().numpy())
    assert kx_.clusters[2].button_style == "info" and kx_.clusters[0].button_style == ""
    assert shown(kx_.image).tolist() == grey(torch_image(decoder, kx_.z())).tolist()
    kx_.sample.click()  # z ~ N(mean_2, I) from numpy's generator seeded with SEED
    draw = np.clip(np.random.default_rng(SEED).standard_normal(5), -3, 3)
    np.testing.assert_allclose(kx_.z() - means[2].double().numpy(), draw, atol=1e-12)
    assert [s.description for s in kx_.sliders] == [f"\u0394z{k}" for k in range(1, 6)]
    assert shown(kx_.image).tolist() == grey(torch_image(decoder, kx_.z())).tolist()
    kx_.reset.click()
    np.testing.assert_array_equal(kx_.z(), means[2].double().numpy())


# -- bad input -------------------------------------------------------------------------------------
def linear(d, out=784):
    return nn.Sequential(nn.Linear(d, out))


TWO = dict(codes=torch.zeros(2, 2))


@pytest.mark.parametrize("decoder, kwargs, error, message", [
    (kx.classifier.mlp, {}, TypeError, "decoder must be an nn.Sequential"),  # a function
    (nn.Linear(2, 784), {}, TypeError, "decoder must be an nn.Sequential"),
    (nn.Sequential(nn.Linear(2, 784), nn.ReLU(), nn.BatchNorm1d(784)), {}, ValueError,
     r"layer 2 of the decoder, BatchNorm1d\(784.*must directly follow an nn.Linear"),
    (nn.Sequential(nn.Linear(2, 16), nn.Softplus(), nn.Linear(16, 784)), {}, TypeError,
     "unsupported layer 1 .*Softplus.*nn.Linear and the activations ReLU, LeakyReLU"),
    (nn.Sequential(nn.ReLU()), {}, ValueError, "no nn.Linear layer"),
    (nn.Sequential(nn.Linear(2, 16), nn.Linear(17, 784)), {}, ValueError,
     "takes 17 inputs but the layer before gives 16"),
    (linear(2, 780), {}, ValueError, r"gives 780 outputs but image_shape \(28, 28\) needs 784"),
    (linear(2), dict(image_shape=(28, 0)), ValueError, "image_shape entries"),
    (linear(2), dict(image_shape=784), ValueError, "image_shape must be"),
    (linear(2), dict(span=0.0), ValueError, "span must be positive"),
    (linear(2), dict(span=float("inf")), ValueError, "span must be finite"),
    (linear(2), dict(title=3), TypeError, "title must be a string"),
    (linear(2), dict(codes=torch.zeros(5, 3)), ValueError, r"codes must have shape \(n, 2\)"),
    (linear(2), dict(codes=torch.zeros(5)), ValueError, "codes must be 2-D"),
    (linear(2), dict(codes=torch.zeros(0, 2)), ValueError, "codes must be non-empty"),
    (linear(2), dict(codes=torch.tensor([[0.0, float("nan")]])), ValueError, "codes must be finite"),
    (linear(2), dict(codes=torch.zeros(5, 2, dtype=torch.int64)), TypeError,
     "codes must have a real floating dtype"),
    (linear(3), dict(codes=torch.zeros(5, 2)), ValueError,
     "codes are drawn on the 2-D pad, which needs a 2-D latent; the decoder's latent is 3-D"),
    (linear(2), dict(TWO, labels=torch.zeros(3, dtype=torch.int64)), ValueError,
     r"labels must have shape \(2,\)"),
    (linear(2), dict(TWO, labels=torch.zeros(2)), TypeError, "labels must be integers"),
    (linear(2), dict(TWO, labels=torch.tensor([0, -1])), ValueError, "labels must be non-negative"),
    (linear(2), dict(labels=torch.tensor([0, 1])), ValueError, "give codes too"),
    (linear(2), dict(TWO, class_names=["a"]), ValueError, "give labels too"),
    (linear(2), dict(TWO, labels=torch.tensor([0, 2]), class_names=["a", "b"]), ValueError,
     "class_names names 2, fewer than the 3 needed"),
    (linear(2), dict(TWO, labels=torch.tensor([0, 1]), class_names="ab"), TypeError,
     "class_names must be a sequence"),
    (linear(4), dict(cluster_means=torch.zeros(3, 5)), ValueError,
     r"cluster_means must have shape \(K, 4\)"),
    (linear(4), dict(cluster_means=torch.zeros(4)), ValueError, "cluster_means must be 2-D"),
    (linear(4), dict(cluster_means=torch.full((2, 4), float("inf"))), ValueError,
     "cluster_means must be finite"),
    (linear(4), dict(cluster_means=torch.zeros(2, 4), cluster_names=["a"]), ValueError,
     "cluster_names names 1, fewer than the 2 needed"),
    (linear(4), dict(cluster_means=torch.zeros(2, 4), cluster_names=["a", "b", "c"]), ValueError,
     "cluster_names names 3 clusters, cluster_means holds 2"),
    (linear(4), dict(cluster_names=["a"]), ValueError, "give cluster_means too"),
])
def test_bad_input_is_refused(decoder, kwargs, error, message):
    with pytest.raises(error, match=message):
        latent_explorer(decoder, **kwargs)


def test_parameters_that_cannot_travel_are_refused():
    decoder = nn.Sequential(nn.Linear(2, 784))
    with torch.no_grad():
        decoder[0].bias[3] = float("nan")
    with pytest.raises(ValueError, match=r"decoder parameter 0.bias must be finite"):
        latent_explorer(decoder)
    with torch.no_grad():
        decoder[0].bias[3] = 1e5
    with pytest.raises(ValueError, match="0.bias holds values beyond 65504, the float16 range"):
        export_decoder(decoder)


def test_decode_exported_refuses_bad_input():
    payload = export_decoder(mlp_decoder([3, 8, 784], seed=0))
    with pytest.raises(ValueError, match=r"z must have shape \(3,\) or \(n, 3\)"):
        decode_exported(payload, np.zeros(2))
    with pytest.raises(ValueError, match="z must be finite"):
        decode_exported(payload, [0.0, np.inf, 0.0])
    with pytest.raises(ValueError, match="made by export_network"):
        decode_exported({"layers": []}, np.zeros(3))
    broken = {**payload, "layers": [{**payload["layers"][0], "weight": payload["layers"][2]["weight"]}]}
    with pytest.raises(ValueError, match="payload weight holds 6272 values, expected 24"):
        decode_exported(broken, np.zeros(3))


def test_static_pad_keeps_every_class_colour():
    """The pad picture in the page holds each class's tab10 colour exactly (a reduced palette
    once merged the legend markers' colours)."""
    from matplotlib import colormaps

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(30)
    codes = torch.randn(300, 2, generator=g) + 3 * torch.stack(
        [torch.cos(labels * 0.63), torch.sin(labels * 0.63)], 1)
    ex = latent_explorer(mlp_decoder([2, 8, 784], seed=0), codes=codes, labels=labels)
    png = base64.b64decode(payload_of(ex.static_html())["pad"]["png"])
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    present = {tuple(c) for c in np.unique(rgb, axis=0)}
    for k in range(10):
        colour = tuple(int(round(255 * v)) for v in colormaps["tab10"](k)[:3])
        assert colour in present, f"class {k}'s colour {colour} is missing from the pad"
