"""The flow explorer: a normalising flow's inverse is its generator; move the temperature of its
samples, or walk between two real images' codes.

A flow maps data x to codes z = f(x) with z ~ N(0, I) under the model, and generates by running
the inverse g = f^(-1) on drawn codes. The explorer shows two panels:

* samples g(T ε) for a fixed set of draws ε ~ N(0, I), with a temperature slider T (T = 0 maps the
  prior's mode back, T = 1 gives the model's own samples) and a button for new draws;
* the straight line between the codes of two images, (1 - t) f(x_a) + t f(x_b), mapped back by g,
  with a slider for t and a choice of pairs.

Two views through one object (:class:`kexue.widgets._views.TwoViews`):

* live, in a kernel: ipywidgets, the torch ``inverse`` computing each image;
* static, in the built book: the inverse travels in the page as a *program* of steps (below) with
  float16 weights, and the page's JavaScript (:data:`PROGRAM_JS`) runs it for any T, draw and t.
  :func:`run_program` is the same computation in NumPy, the reference the browser tests hold the
  page to.

The program (:data:`FORMAT`) is a list of steps applied in order to a code, each one of
``{"type": "scale", "log_scale": f16}`` (x -> exp(-s) x, the inverse of a diagonal scale),
``{"type": "reverse"}`` (the coordinates in reverse order), and ``{"type": "coupling",
"partition": "interleaved" | "halves", "moved": "first" | "second", "op": "add" | "subtract",
"net": MLP}`` (the moved part gains or loses ``net(kept part)``; ``net`` as
:func:`kexue.widgets.page_networks.export_network` writes an MLP). The flow's own chapter writes
its inverse in these steps (for NICE, :func:`kexue.flows.figures.inverse_program`).
"""
from __future__ import annotations

import html
import json
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch

from ..checks import float_tensor, positive_int
from ._views import PAINT_GREY_JS, SEEDED_NORMAL_JS, TwoViews, next_element_id
from .latent_explorer import IMAGE_PIXELS, _grey, _png
from .page_networks import NETWORK_JS, _f16, _unf16, decode_exported

__all__ = ["FlowExplorer", "flow_explorer", "run_program", "FORMAT", "PROGRAM_JS"]

#: The program's format tag.
FORMAT = "kexue-flow-inverse/1"
#: The draws shown in the samples panel, and the seed of the page's generator for new draws.
SAMPLES, SEED = 12, 0
#: The temperature slider's range and step.
T_MAX, T_STEP = 1.2, 0.05
#: The interpolation slider's step.
STEPS = 40


def _check_program(program) -> dict:
    if not isinstance(program, dict) or program.get("format") != FORMAT:
        raise ValueError(f"program must be a dict of format {FORMAT!r} (see "
                         f"kexue.widgets.flow_explorer)")
    dim = positive_int(program.get("dim"), "program dim")
    for k, step in enumerate(program["steps"]):
        kind = step.get("type")
        if kind not in ("scale", "reverse", "coupling"):
            raise ValueError(f"step {k} of the program has unknown type {kind!r}")
        if kind == "coupling" and (step["partition"] not in ("interleaved", "halves")
                                   or step["moved"] not in ("first", "second")
                                   or step["op"] not in ("add", "subtract")):
            raise ValueError(f"step {k} of the program is a coupling with unknown settings")
        if kind == "coupling" and (step["net"]["latent_dim"], step["net"]["output_dim"]) != (
                dim // 2, dim // 2):
            raise ValueError(f"step {k}'s net must map {dim // 2} numbers to {dim // 2}")
    return program


def _split(x, partition, moved):
    half = x.shape[-1] // 2
    if partition == "interleaved":
        first, second = x[..., 0::2], x[..., 1::2]
    else:
        first, second = x[..., :half], x[..., half:]
    return (second, first) if moved == "first" else (first, second)


def _join(kept, moved_part, partition, moved):
    first, second = (moved_part, kept) if moved == "first" else (kept, moved_part)
    out = np.empty(first.shape[:-1] + (2 * first.shape[-1],))
    if partition == "interleaved":
        out[..., 0::2], out[..., 1::2] = first, second
    else:
        out[..., :first.shape[-1]], out[..., first.shape[-1]:] = first, second
    return out


def run_program(program: dict, z) -> np.ndarray:
    """What the page computes: the program's steps applied to ``z`` (``(D,)`` or ``(n, D)``) in
    float64 with the float16 weights, returned as float32; raw outputs, not clipped."""
    program = _check_program(program)
    x = np.asarray(z, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[-1] != program["dim"] or not np.isfinite(x).all():
        raise ValueError(f"z must be finite with shape ({program['dim']},) or (n, "
                         f"{program['dim']}), got {x.shape}")
    for step in program["steps"]:
        if step["type"] == "scale":
            x = x * np.exp(-_unf16(step["log_scale"], program["dim"], "log_scale"))
        elif step["type"] == "reverse":
            x = x[..., ::-1]
        else:
            kept, moved = _split(x, step["partition"], step["moved"])
            shift = decode_exported(step["net"], kept).astype(np.float64)
            moved = moved + shift if step["op"] == "add" else moved - shift
            x = _join(kept, moved, step["partition"], step["moved"])
    return x.astype(np.float32)


#: ``kexueFlowInverse(program)`` returns ``inverse(z) -> Float32Array``: :func:`run_program` in
#: the page, the nets run by ``kexueNet`` and the float16 vectors read by ``kexueFloat16``
#: (:data:`kexue.widgets.page_networks.NETWORK_JS`).
PROGRAM_JS = r"""
function kexueFlowInverse(program) {
  var D = program.dim, H = D / 2;
  function scales(b64) {
    return Array.prototype.map.call(kexueFloat16(b64, D), function (s) { return Math.exp(-s); });
  }
  var steps = program.steps.map(function (s) {
    if (s.type === "scale") return {type: "scale", factor: scales(s.log_scale)};
    if (s.type === "coupling") return {type: "coupling", p: s.partition, m: s.moved,
                                       sign: s.op === "add" ? 1 : -1, net: kexueNet(s.net)};
    return {type: s.type};
  });
  return function inverse(z) {
    var x = Float64Array.from(z), i;
    for (var k = 0; k < steps.length; k++) {
      var S = steps[k];
      if (S.type === "scale") {
        for (i = 0; i < D; i++) x[i] *= S.factor[i];
      } else if (S.type === "reverse") {
        x.reverse();
      } else {
        var first = new Float64Array(H), second = new Float64Array(H);
        for (i = 0; i < H; i++) {
          if (S.p === "interleaved") { first[i] = x[2 * i]; second[i] = x[2 * i + 1]; }
          else { first[i] = x[i]; second[i] = x[H + i]; }
        }
        var kept = S.m === "first" ? second : first, moved = S.m === "first" ? first : second;
        var shift = S.net(kept);
        for (i = 0; i < H; i++) moved[i] += S.sign * shift[i];
        for (i = 0; i < H; i++) {
          if (S.p === "interleaved") { x[2 * i] = first[i]; x[2 * i + 1] = second[i]; }
          else { x[i] = first[i]; x[H + i] = second[i]; }
        }
      }
    }
    return Float32Array.from(x);
  };
}
"""

_VIEW_JS = r"""
  var root = document.getElementById(UID);
  var data = JSON.parse(root.querySelector(".kx-data").textContent);
  var inverse = kexueFlowInverse(data.program), D = data.program.dim;
  var side = data.image_side, normal = kexueNormal(data.seed);
  var cells = root.querySelectorAll("canvas.kx-sample");
  var tInput = root.querySelector("input.kx-temperature"), tOut = root.querySelector("output.kx-temperature");
  var sInput = root.querySelector("input.kx-path"), sOut = root.querySelector("output.kx-path");
  var pairs = root.querySelector("select.kx-pair"), ends = root.querySelectorAll("canvas.kx-end");
  var middle = root.querySelector("canvas.kx-middle");
  var pairCodes = data.pairs.map(function (p) {  // float16 codes of each pair's two ends
    return [kexueFloat16(p.a, D), kexueFloat16(p.b, D)];
  });
  function paint(canvas, pixels) { kexuePaintGrey(canvas, pixels, side, side); }
  var api = root.kxFlow = {inverse: inverse, eps: null, temperature: null, samples: null,
                           pair: 0, t: null, path: null};
  function draw() {
    var out = [];
    for (var j = 0; j < cells.length; j++) {  // a fresh set of draws, eps ~ N(0, I)
      var e = new Float64Array(D);
      for (var i = 0; i < D; i++) e[i] = normal();
      out.push(e);
    }
    api.eps = out;
  }
  function renderSamples() {
    var T = +tInput.value;
    tOut.textContent = T.toFixed(2);
    api.temperature = T;
    api.samples = api.eps.map(function (e, j) {
      var x = inverse(e.map(function (v) { return T * v; }));
      paint(cells[j], x);
      return x;
    });
  }
  function renderPath() {
    var t = +sInput.value, k = +pairs.value, ab = pairCodes[k];
    sOut.textContent = t.toFixed(2);
    var z = new Float64Array(D);
    for (var i = 0; i < D; i++) z[i] = (1 - t) * ab[0][i] + t * ab[1][i];
    var x = inverse(z);
    paint(middle, x);
    paint(ends[0], inverse(ab[0])); paint(ends[1], inverse(ab[1]));
    api.pair = k; api.t = t; api.path = x;
  }
  tInput.addEventListener("input", renderSamples);
  sInput.addEventListener("input", renderPath);
  pairs.addEventListener("change", renderPath);
  root.querySelector("button.kx-redraw").addEventListener("click", function () {
    draw(); renderSamples();
  });
  draw(); renderSamples(); renderPath();
  root.dataset.ready = "1";
"""


class FlowExplorer(TwoViews):
    """Samples at a temperature and walks between two images' codes; see :func:`flow_explorer`."""

    def __init__(self, inverse: Callable, program: dict, *, pairs, names=None,
                 temperature: float = 0.75, title: str | None = None):
        if not callable(inverse):
            raise TypeError(f"inverse must be callable (codes -> images), got "
                            f"{type(inverse).__name__}")
        self.inverse, self.program = inverse, _check_program(program)
        dim = self.program["dim"]
        side = int(round(dim ** 0.5))
        if side * side != dim:
            raise ValueError(f"the flow's width {dim} is not a square image's")
        self.side = side
        pairs = list(pairs)
        if not pairs:
            raise ValueError("pairs must hold at least one (code_a, code_b) pair")
        self.pairs = []
        for k, pair in enumerate(pairs):
            if len(pair) != 2:
                raise ValueError(f"pair {k} must be (code_a, code_b)")
            codes = [float_tensor(c, f"pair {k}'s code", ndim=1, numpy_ok=True).detach().cpu()
                     .double().numpy() for c in pair]
            if any(c.shape != (dim,) for c in codes):
                raise ValueError(f"pair {k}'s codes must have {dim} entries each")
            if any(np.abs(c).max() > 65504 for c in codes):
                raise ValueError(f"pair {k}'s codes exceed the float16 range the page stores")
            self.pairs.append(codes)
        self.names = [f"pair {k + 1}" for k in range(len(pairs))] if names is None else list(names)
        if len(self.names) != len(self.pairs) or not all(isinstance(n, str) for n in self.names):
            raise ValueError(f"names must be {len(self.pairs)} strings, one per pair")
        if not (isinstance(temperature, (int, float)) and 0 <= temperature <= T_MAX):
            raise ValueError(f"temperature must be a number in [0, {T_MAX}], got {temperature!r}")
        if title is not None and not isinstance(title, str):
            raise TypeError(f"title must be a string, got {type(title).__name__}")
        self.temperature, self.title = float(temperature), title

    def __repr__(self):
        return (f"<FlowExplorer: {self.side}x{self.side} images, {len(self.pairs)} pairs, "
                f"{len(self.program['steps'])} steps>")

    def _scale(self) -> int:
        return max(1, round(IMAGE_PIXELS / 2 / self.side))

    # -- static view ---------------------------------------------------------------------------
    def payload(self) -> dict:
        return {"program": self.program, "image_side": self.side, "seed": SEED,
                "pairs": [{"a": _f16(torch.as_tensor(a)), "b": _f16(torch.as_tensor(b))}
                          for a, b in self.pairs]}

    def static_html(self) -> str:
        uid, side, scale = next_element_id(), self.side, self._scale()
        size = f"width:{scale * side}px;height:{scale * side}px;image-rendering:pixelated"
        canvas = (f'<canvas class="{{cls}}" width="{side}" height="{side}" role="img" '
                  f'aria-label="{{label}}" style="{size};border:1px solid #ccc"></canvas>')
        samples = "".join(canvas.format(cls="kx-sample", label=f"sample {k + 1}")
                          for k in range(SAMPLES))
        options = "".join(f'<option value="{k}">{html.escape(n)}</option>'
                          for k, n in enumerate(self.names))
        title = f"<strong>{html.escape(self.title)}</strong>" if self.title else ""
        script = NETWORK_JS + SEEDED_NORMAL_JS + PAINT_GREY_JS + PROGRAM_JS + _VIEW_JS.replace(
            "UID", json.dumps(uid), 1)
        payload = json.dumps(self.payload()).replace("</", "<\\/")
        row = "display:flex;flex-wrap:wrap;gap:.4em;align-items:center;margin:.3em 0"
        return f"""<div class="kx-widget kx-flow-explorer" id="{uid}" data-kind="flow-explorer">{title}
<div style="{row}">{samples}</div>
<div style="{row}"><label style="display:flex;gap:.3em;align-items:center;flex:1;min-width:12em">
<span>temperature T</span><input type="range" class="kx-temperature" min="0" max="{T_MAX}"
 step="{T_STEP}" value="{self.temperature}" aria-label="temperature" style="flex:1;min-width:5em">
<output class="kx-temperature" style="min-width:2.5em"></output></label>
<button type="button" class="kx-redraw">new draws</button></div>
<div style="{row}">{canvas.format(cls="kx-end", label="image a")}
{canvas.format(cls="kx-middle", label="the image between")}
{canvas.format(cls="kx-end", label="image b")}</div>
<div style="{row}"><select class="kx-pair" aria-label="pair of images">{options}</select>
<label style="display:flex;gap:.3em;align-items:center;flex:1;min-width:12em"><span>t</span>
<input type="range" class="kx-path" min="0" max="1" step="{1 / STEPS}" value="0.5"
 aria-label="position between the two codes" style="flex:1;min-width:5em">
<output class="kx-path" style="min-width:2.5em"></output></label></div>
<script type="application/json" class="kx-data">{payload}</script>
<script>(function(){{{script}}})();</script></div>"""

    # -- live view -----------------------------------------------------------------------------
    @torch.no_grad()
    def images(self, z) -> np.ndarray:
        """``inverse(z)`` for codes ``(n, D)``, as ``(n, side, side)`` float32 (not clipped)."""
        z = torch.as_tensor(np.asarray(z, dtype=np.float32))
        return np.asarray(self.inverse(z), dtype=np.float32).reshape(-1, self.side, self.side)

    def widget(self):
        """The live view: the same controls as the page, the torch ``inverse`` drawing each image.
        The returned box's ``kx`` attribute holds the controls."""
        import ipywidgets as W

        rng = np.random.default_rng(SEED)
        state = {"eps": rng.standard_normal((SAMPLES, self.program["dim"]))}
        cells = [W.Image(format="png") for _ in range(SAMPLES)]
        temperature = W.FloatSlider(value=self.temperature, min=0, max=T_MAX, step=T_STEP,
                                    description="T", layout=W.Layout(width="auto"))
        redraw = W.Button(description="new draws", layout=W.Layout(width="auto"))
        pair = W.Dropdown(options=[(n, k) for k, n in enumerate(self.names)], value=0,
                          layout=W.Layout(width="auto"))
        t = W.FloatSlider(value=0.5, min=0, max=1, step=1 / STEPS, description="t",
                          layout=W.Layout(width="auto"))
        ends = [W.Image(format="png"), W.Image(format="png")]
        middle = W.Image(format="png")
        scale = self._scale()

        def show(image, pixels):
            image.value = _png(_grey(pixels), scale)

        def samples(_=None):
            for cell, x in zip(cells, self.images(temperature.value * state["eps"])):
                show(cell, x)

        def path(_=None):
            a, b = self.pairs[pair.value]
            xs = self.images(np.stack([a, (1 - t.value) * a + t.value * b, b]))
            show(ends[0], xs[0])
            show(middle, xs[1])
            show(ends[1], xs[2])

        def new_draws(_):
            state["eps"] = rng.standard_normal(state["eps"].shape)
            samples()

        temperature.observe(samples, names="value")
        redraw.on_click(new_draws)
        t.observe(path, names="value")
        pair.observe(path, names="value")
        samples()
        path()
        title = [W.HTML(f"<strong>{html.escape(self.title)}</strong>")] if self.title else []
        box = W.VBox([*title, W.HBox(cells, layout=W.Layout(flex_flow="row wrap")),
                      W.HBox([temperature, redraw]), W.HBox([ends[0], middle, ends[1]]),
                      W.HBox([pair, t])])
        box.kx = SimpleNamespace(temperature=temperature, redraw=redraw, pair=pair, t=t,
                                 cells=cells, ends=ends, middle=middle, state=state)
        return box


def flow_explorer(inverse: Callable, program: dict, *, pairs, names=None,
                  temperature: float = 0.75, title: str | None = None) -> FlowExplorer:
    """An explorer of a flow's generator: ``inverse`` maps codes ``(n, D)`` (a float32 tensor) to
    images (the live view), ``program`` is the same inverse written as steps for the page
    (:data:`FORMAT`); ``pairs`` are (code_a, code_b) pairs, e.g. the codes of two test images,
    named by ``names``; the temperature slider starts at ``temperature``."""
    return FlowExplorer(inverse, program, pairs=pairs, names=names, temperature=temperature,
                        title=title)
