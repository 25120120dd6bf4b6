"""The generator explorer: a GAN generator's samples G(z), one of them moved coordinate by
coordinate, and the straight walk between two of them.

Three panels share one set of draws z ~ N(0, I) (``draws`` of them, from a seeded generator; "new
draws" draws again):

* the draws: G(z) for each, in a grid;
* latent sliders: one draw (a click on its image, or the list) shown large; ``sliders`` sliders
  set its first coordinates (over [-3, 3]) and the image follows;
* interpolate: two draws a and b (two lists) and a slider t: G((1 - t) z_a + t z_b), between
  G(z_a) and G(z_b).

Two views through one object (:class:`kexue.widgets._views.TwoViews`):

* live, in a kernel: ipywidgets, the torch generator (in eval mode) computing each image;
* static, in the built book: the generator travels in the page as float16 weights
  (:func:`kexue.widgets.page_networks.export_network`, batch norms folded) and the page's own
  JavaScript (``kexueNet``) runs it for any z; the page times each slider's redraw (decode and
  paint) and keeps the last :data:`TIMINGS` on ``root.kxGenerator.redrawMs``.
  :func:`kexue.widgets.page_networks.decode_exported` is the same computation in NumPy, the
  reference the browser tests hold the page to.
"""
from __future__ import annotations

import html
import json
import math
from types import SimpleNamespace

import numpy as np
import torch

from ..checks import positive_int
from ._views import PAINT_GREY_JS, SEEDED_NORMAL_JS, TwoViews, next_element_id
from .latent_explorer import IMAGE_PIXELS, MARK, _grey, _png
from .page_networks import NETWORK_JS, check_network, export_network

__all__ = ["GeneratorExplorer", "generator_explorer"]

#: The seed of the draws (the page's generator, and NumPy's in the live view).
SEED = 0
#: The latent sliders' range [-SPAN, SPAN] and step.
SPAN, STEP = 3.0, 0.05
#: The interpolation slider's steps from 0 to 1.
T_STEPS = 40
#: How many of its latest slider redraw times the page keeps.
TIMINGS = 50

_VIEW_JS = r"""
  var root = document.getElementById(UID);
  var data = JSON.parse(root.querySelector(".kx-data").textContent);
  var decode = kexueNet(data.generator), d = data.generator.latent_dim;
  var H = data.image_shape[0], W = data.image_shape[1], normal = kexueNormal(data.seed);
  var cells = root.querySelectorAll("canvas.kx-draw"), chosen = root.querySelector("canvas.kx-chosen");
  var choice = root.querySelector("select.kx-choice");
  var inputs = root.querySelectorAll("input.kx-slider"), outs = root.querySelectorAll("output.kx-slider");
  var from = root.querySelector("select.kx-from"), to = root.querySelector("select.kx-to");
  var tInput = root.querySelector("input.kx-t"), tOut = root.querySelector("output.kx-t");
  var ends = root.querySelectorAll("canvas.kx-end"), between = root.querySelector("canvas.kx-between");
  function paint(canvas, pixels) { kexuePaintGrey(canvas, pixels, W, H); }
  function fmt(v) { return (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(2); }
  var api = root.kxGenerator = {decode: decode, draws: null, images: null, chosen: 0, z: null,
                                image: null, a: 0, b: 1, t: null, between: null, redrawMs: []};
  function newDraws() {
    api.draws = [];
    for (var j = 0; j < cells.length; j++) {  // z ~ N(0, I)
      var z = new Float64Array(d);
      for (var i = 0; i < d; i++) z[i] = normal();
      api.draws.push(z);
    }
    api.images = api.draws.map(decode);
    for (j = 0; j < cells.length; j++) paint(cells[j], api.images[j]);
  }
  function renderChosen() {
    api.image = decode(api.z);
    paint(chosen, api.image);
  }
  function choose(k) {  // the draw k under the sliders, its image ringed in the grid
    api.chosen = k; choice.value = String(k);
    api.z = Float64Array.from(api.draws[k]);
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].value = api.z[i]; outs[i].textContent = fmt(api.z[i]);
    }
    for (var j = 0; j < cells.length; j++) {
      cells[j].style.outline = j === k ? "2px solid " + data.mark : "none";
      cells[j].setAttribute("aria-pressed", j === k ? "true" : "false");
    }
    renderChosen();
  }
  function renderPath() {
    var t = +tInput.value, a = +from.value, b = +to.value, z = new Float64Array(d);
    for (var i = 0; i < d; i++) z[i] = (1 - t) * api.draws[a][i] + t * api.draws[b][i];
    tOut.textContent = t.toFixed(2);
    api.between = decode(z);
    paint(between, api.between); paint(ends[0], api.images[a]); paint(ends[1], api.images[b]);
    api.a = a; api.b = b; api.t = t;
  }
  for (var k = 0; k < inputs.length; k++) inputs[k].addEventListener("input", function (ev) {
    var i = +ev.target.dataset.k, t0 = performance.now();
    api.z[i] = +ev.target.value; outs[i].textContent = fmt(api.z[i]);
    renderChosen();
    api.redrawMs.push(performance.now() - t0);
    if (api.redrawMs.length > data.timings) api.redrawMs.shift();
  });
  for (k = 0; k < cells.length; k++) {
    cells[k].addEventListener("click", function (ev) { choose(+ev.currentTarget.dataset.k); });
    cells[k].addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); choose(+ev.currentTarget.dataset.k); }
    });
  }
  choice.addEventListener("change", function () { choose(+choice.value); });
  tInput.addEventListener("input", renderPath);
  from.addEventListener("change", renderPath);
  to.addEventListener("change", renderPath);
  root.querySelector("button.kx-redraw").addEventListener("click", function () {
    newDraws(); choose(api.chosen); renderPath();
  });
  newDraws(); choose(0); renderPath();
  root.dataset.ready = "1";
"""


def _image_shape(output_shape: tuple[int, ...]) -> tuple[int, int]:
    """(height, width) of a generator's grey image: an output of shape (1, H, W), (H, W), or n
    values with n a square; else a ValueError."""
    if len(output_shape) >= 2 and math.prod(output_shape[:-2]) == 1:
        return output_shape[-2], output_shape[-1]
    side = math.isqrt(output_shape[0])
    if len(output_shape) == 1 and side * side == output_shape[0]:
        return side, side
    raise ValueError(f"the generator's output of shape {output_shape} is not one grey image: "
                     f"(1, height, width), (height, width) or a square number of values")


class GeneratorExplorer(TwoViews):
    """Draws, latent sliders and interpolation of a generator; see :func:`generator_explorer`."""

    def __init__(self, generator, latent: int, *, title: str | None = None, sliders: int = 6,
                 draws: int = 12):
        self.latent = positive_int(latent, "latent")
        self.sliders = positive_int(sliders, "sliders")
        if self.sliders > self.latent:
            raise ValueError(f"sliders ({self.sliders}) must be at most latent ({self.latent}): "
                             f"one slider per latent coordinate")
        self.draws = positive_int(draws, "draws")
        if self.draws < 2:
            raise ValueError(f"draws must be at least 2, the ends of the interpolation, got {draws}")
        if title is not None and not isinstance(title, str):
            raise TypeError(f"title must be a string, got {type(title).__name__}")
        latent_dim, output_shape = check_network(generator, "generator")
        if self.latent != latent_dim:
            raise ValueError(f"latent is {self.latent} but the generator's first layer takes "
                             f"{latent_dim} numbers")
        self.generator, self.title = generator, title
        self.image_shape = _image_shape(output_shape)

    def __repr__(self):
        h, w = self.image_shape
        return (f"<GeneratorExplorer: {self.latent}-D latent, {h}x{w} images, {self.draws} draws, "
                f"{self.sliders} sliders>")

    def _scales(self) -> tuple[int, int]:
        """Screen pixels per image pixel: the grid's and the interpolation's ends', the chosen
        draw's and the image between."""
        side = max(self.image_shape)
        return max(1, round(IMAGE_PIXELS / 2 / side)), max(1, round(IMAGE_PIXELS / side))

    # -- the torch generator -------------------------------------------------------------------
    @torch.no_grad()
    def images(self, z) -> np.ndarray:
        """``generator(z)`` for codes ``(n, latent)``, as ``(n, height, width)`` float32 (not
        clipped): the torch generator in eval mode, its training mode restored afterwards."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.latent or not np.isfinite(z).all():
            raise ValueError(f"z must be finite codes of shape (n, {self.latent}), got {z.shape}")
        first = next(self.generator.parameters())
        was_training = self.generator.training
        self.generator.eval()
        try:
            out = self.generator(torch.as_tensor(z, dtype=first.dtype, device=first.device))
        finally:
            self.generator.train(was_training)
        return out.reshape(len(z), *self.image_shape).float().cpu().numpy()

    # -- static view ---------------------------------------------------------------------------
    def payload(self) -> dict:
        """The static view's data: the exported generator, the image shape, the draws' seed, the
        ring's colour and how many redraw times the page keeps."""
        return {"generator": export_network(self.generator, "generator"),
                "image_shape": list(self.image_shape), "seed": SEED, "mark": MARK,
                "timings": TIMINGS}

    def static_html(self) -> str:
        """A self-contained HTML block: the grid of draws, the chosen draw with its sliders, the
        interpolation, and the generator run by inline JavaScript."""
        uid = next_element_id()
        (h, w), (small, large) = self.image_shape, self._scales()

        def size(scale):
            return (f"width:{scale * w}px;height:{scale * h}px;image-rendering:pixelated;"
                    f"border:1px solid #ccc")

        def canvas(cls, label, scale):
            return (f'<canvas class="{cls}" width="{w}" height="{h}" role="img" aria-label="{label}" '
                    f'style="{size(scale)}"></canvas>')

        def options(selected):
            return "".join(f'<option value="{k}"{" selected" if k == selected else ""}>draw {k + 1}'
                           f'</option>' for k in range(self.draws))

        cells = "".join(
            f'<canvas class="kx-draw" data-k="{k}" width="{w}" height="{h}" role="button" '
            f'tabindex="0" aria-pressed="false" aria-label="draw {k + 1}: show it under the sliders" '
            f'style="{size(small)};cursor:pointer"></canvas>' for k in range(self.draws))
        sliders = "".join(
            f'<label style="display:flex;gap:.3em;align-items:center"><span style="min-width:2.2em">'
            f'z{k + 1}</span><input type="range" class="kx-slider" data-k="{k}" min="{-SPAN}" '
            f'max="{SPAN}" step="{STEP}" value="0" aria-label="z{k + 1}" style="flex:1;min-width:5em">'
            f'<output class="kx-slider" style="min-width:3.2em;text-align:right"></output></label>'
            for k in range(self.sliders))
        title = f"<strong>{html.escape(self.title)}</strong>" if self.title else ""
        script = NETWORK_JS + SEEDED_NORMAL_JS + PAINT_GREY_JS + _VIEW_JS.replace("UID", json.dumps(uid), 1)
        payload = json.dumps(self.payload()).replace("</", "<\\/")
        row = "display:flex;flex-wrap:wrap;gap:.4em;align-items:center;margin:.3em 0"
        grid = "display:grid;grid-template-columns:repeat(auto-fill,minmax(13em,1fr));column-gap:1em"
        return f"""<div class="kx-widget kx-generator-explorer" id="{uid}" data-kind="generator-explorer"
 data-latent-dim="{self.latent}">{title}
<div style="{row}">{cells}</div>
<div style="{row}"><button type="button" class="kx-redraw">new draws</button></div>
<div><em>Latent sliders</em></div>
<div style="{row}">{canvas("kx-chosen", "the chosen draw, moved by the sliders", large)}
<select class="kx-choice" aria-label="the draw the sliders move">{options(0)}</select></div>
<div class="kx-sliders" style="{grid};margin:.3em 0">{sliders}</div>
<div><em>Interpolate</em></div>
<div style="{row}">{canvas("kx-end", "draw a", small)}
{canvas("kx-between", "the image between", large)}
{canvas("kx-end", "draw b", small)}</div>
<div style="{row}"><label>a <select class="kx-from" aria-label="draw a">{options(0)}</select></label>
<label>b <select class="kx-to" aria-label="draw b">{options(1)}</select></label>
<label style="display:flex;gap:.3em;align-items:center;flex:1;min-width:12em"><span>t</span>
<input type="range" class="kx-t" min="0" max="1" step="{1 / T_STEPS}" value="0.5"
 aria-label="position between the two codes" style="flex:1;min-width:5em">
<output class="kx-t" style="min-width:2.5em"></output></label></div>
<script type="application/json" class="kx-data">{payload}</script>
<script>(function(){{{script}}})();</script></div>"""

    # -- live view -----------------------------------------------------------------------------
    def widget(self):
        """The live view: the same panels as the page, the torch generator drawing each image
        (a list picks the draw the sliders move: an ipywidgets image cannot be clicked; a slider
        shows its coordinate clamped to [-3, 3], the code keeps it). The returned box's ``kx``
        attribute holds the controls."""
        import ipywidgets as W

        rng = np.random.default_rng(SEED)
        state = {"draws": rng.standard_normal((self.draws, self.latent)), "z": None,
                 "holding": False}
        small, large = self._scales()
        choices = [(f"draw {k + 1}", k) for k in range(self.draws)]
        cells = [W.Image(format="png") for _ in range(self.draws)]
        redraw = W.Button(description="new draws", layout=W.Layout(width="auto"))
        choice = W.Dropdown(options=choices, value=0, layout=W.Layout(width="auto"))
        chosen = W.Image(format="png")
        sliders = [W.FloatSlider(value=0.0, min=-SPAN, max=SPAN, step=STEP, description=f"z{k + 1}",
                                 readout_format=".2f", style={"description_width": "2.2em"},
                                 layout=W.Layout(width="auto")) for k in range(self.sliders)]
        a = W.Dropdown(options=choices, value=0, layout=W.Layout(width="auto"))
        b = W.Dropdown(options=choices, value=1, layout=W.Layout(width="auto"))
        t = W.FloatSlider(value=0.5, min=0, max=1, step=1 / T_STEPS, description="t",
                          layout=W.Layout(width="auto"))
        ends = [W.Image(format="png"), W.Image(format="png")]
        between = W.Image(format="png")

        def render_grid():
            for cell, x in zip(cells, self.images(state["draws"])):
                cell.value = _png(_grey(x), small)

        def render_chosen():
            chosen.value = _png(_grey(self.images(state["z"][None])[0]), large)

        def move(change, k):
            if not state["holding"]:
                state["z"][k] = change["new"]
                render_chosen()

        def choose(_=None):
            state["z"] = state["draws"][choice.value].copy()
            state["holding"] = True
            for s, v in zip(sliders, state["z"]):
                s.value = float(v)  # a FloatSlider clamps to its range, the code keeps v
            state["holding"] = False
            render_chosen()

        def render_path(_=None):
            za, zb = state["draws"][a.value], state["draws"][b.value]
            xs = self.images(np.stack([za, (1 - t.value) * za + t.value * zb, zb]))
            ends[0].value, ends[1].value = _png(_grey(xs[0]), small), _png(_grey(xs[2]), small)
            between.value = _png(_grey(xs[1]), large)

        def new_draws(_):
            state["draws"] = rng.standard_normal(state["draws"].shape)
            render_grid()
            choose()
            render_path()

        for k, s in enumerate(sliders):
            s.observe(lambda change, k=k: move(change, k), names="value")
        choice.observe(choose, names="value")
        redraw.on_click(new_draws)
        for control in (a, b, t):
            control.observe(render_path, names="value")
        render_grid()
        choose()
        render_path()
        title = [W.HTML(f"<strong>{html.escape(self.title)}</strong>")] if self.title else []
        grid = W.GridBox(sliders, layout=W.Layout(
            grid_template_columns="repeat(auto-fill, minmax(16em, 1fr))"))
        box = W.VBox([*title, W.HBox(cells, layout=W.Layout(flex_flow="row wrap")), redraw,
                      W.HTML("<em>Latent sliders</em>"), W.HBox([chosen, choice]), grid,
                      W.HTML("<em>Interpolate</em>"), W.HBox([ends[0], between, ends[1]]),
                      W.HBox([a, b, t])])
        box.kx = SimpleNamespace(cells=cells, redraw=redraw, choice=choice, chosen=chosen,
                                 sliders=sliders, a=a, b=b, t=t, ends=ends, between=between,
                                 state=state)
        return box


def generator_explorer(generator, latent: int, *, title: str | None = None, sliders: int = 6,
                       draws: int = 12) -> GeneratorExplorer:
    """An explorer of a generator's latent space: ``generator`` maps codes of ``latent`` numbers
    to one grey image each (pixels clipped to [0, 1], 1 black), an ``nn.Sequential`` the page can
    run (:mod:`kexue.widgets.page_networks`; e.g. :func:`kexue.gans.networks.image_generator`).
    Shows ``draws`` samples, the first ``sliders`` coordinates of a chosen one on sliders, and the
    walk between two of them. Display it: live ipywidgets running the torch generator in a
    kernel, and in the built book a static view whose JavaScript runs the generator's float16
    weights for any z."""
    return GeneratorExplorer(generator, latent, title=title, sliders=sliders, draws=draws)
