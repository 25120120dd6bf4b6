"""The optimiser playground: SGD, SGD with momentum, RMSprop and Adam racing on a 2-D loss surface.

From the start point of a surface (:mod:`kexue.optim.surfaces`), with gradient ``g_t`` at step
``t``, the four optimisers follow torch.optim's definitions:

* SGD:       ``theta <- theta - lr g``
* momentum:  ``v <- beta v + g`` (``v_1 = g_1``),  ``theta <- theta - lr v``
* RMSprop:   ``s <- rho s + (1 - rho) g^2``,  ``theta <- theta - lr_a g / (sqrt(s) + eps)``
* Adam:      ``m <- beta m + (1 - beta) g``,  ``s <- rho s + (1 - rho) g^2``,
  ``theta <- theta - lr_a (m / (1 - beta^t)) / (sqrt(s / (1 - rho^t)) + eps)``

``lr`` drives the two plain methods and ``lr_adaptive`` (``lr_a``) the two adaptive ones: an
adaptive step is about ``lr_a`` long whatever the gradient's size, a plain one is ``lr |g|``, so
one rate cannot show all four at work on a surface whose gradients reach the hundreds.

Two views through one object (:class:`kexue.widgets._views.TwoViews`):

* live, in a kernel: ipywidgets controls; the paths are computed by the real ``torch.optim``
  optimisers on the surface and drawn with matplotlib;
* static, in the built book: a <select>, range inputs and a <canvas> over a precomputed contour
  picture of each surface; the page's own JavaScript (:data:`UPDATE_RULES_JS`, the same update
  rules in the order of torch's arithmetic) recomputes and redraws the paths on every input event.

A path stops where it diverges: at the first point that is not finite or lies more than
:data:`FAR` half-widths from the centre of the surface's view box.

Serves chapters/part2-optimisation/adaptive-learning-rates.ipynb (post 6234).
"""
from __future__ import annotations

import functools
import html
import io
import json
from typing import NamedTuple

import numpy as np
import torch

from ...checks import positive, positive_int, real_number
from ...widgets._views import TwoViews, next_element_id, palette_png_base64
from ...widgets.slider_figure import Slider
from .. import surfaces as _surfaces

#: The optimisers, in drawing order: key -> (label, colour).
OPTIMISERS = {
    "sgd": ("SGD", "#1f77b4"),
    "momentum": ("SGD + momentum", "#ff7f0e"),
    "rmsprop": ("RMSprop", "#2ca02c"),
    "adam": ("Adam", "#d62728"),
}

#: Default learning rates per surface: chosen so that, at the other defaults, the four paths
#: differ visibly on every surface (see the module's tests and the playground itself).
DEFAULT_LR = {
    "quadratic": dict(lr=0.02, lr_adaptive=0.05),
    "rosenbrock": dict(lr=0.0015, lr_adaptive=0.05),
    "himmelblau": dict(lr=0.01, lr_adaptive=0.1),
}

#: A path has diverged once a point is not finite or is this many half-widths from the box centre.
FAR = 10.0
#: The most steps a playground computes (a static redraw stays fast).
MAX_STEPS = 1000


def _decades(mantissas, lo, hi):
    """``m * 10**k`` for k in ``lo..hi - 1`` and each mantissa, then ``10**hi`` (exact decimals)."""
    return [float(f"{m}e{k}") for k in range(lo, hi) for m in mantissas] + [float(f"1e{hi}")]


#: The sliders' grids (a value given to :func:`optimiser_playground` joins its grid).
GRIDS = {
    "lr": _decades((1, 1.5, 2, 3, 5, 7), -5, 0),
    "lr_adaptive": _decades((1, 1.5, 2, 3, 5, 7), -5, 0),
    "beta": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99],
    "rho": [0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999],
    "eps": _decades((1, 3), -10, 2),
    "steps": [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300],
}
DESCRIPTIONS = {
    "lr": "lr: SGD, momentum", "lr_adaptive": "lr: RMSprop, Adam", "beta": "β (momentum, Adam β₁)",
    "rho": "ρ (RMSprop α, Adam β₂)", "eps": "ε", "steps": "steps",
}
LABEL_WIDTH = "13.5em"  # the static view's labels: the longest description fits


class Trajectory(NamedTuple):
    """The points visited, start first (``(n, 2)`` float64), and whether the path diverged just
    after its last point."""

    points: np.ndarray
    diverged: bool


# -- the torch side ------------------------------------------------------------------------------
def check_hyperparameters(*, lr, lr_adaptive, beta, rho, eps, steps) -> dict:
    """The hyper-parameters as floats (``steps`` an int), or a ValueError/TypeError naming the
    bad one."""
    out = {"lr": positive(lr, "lr"), "lr_adaptive": positive(lr_adaptive, "lr_adaptive")}
    for name, value in (("beta", beta), ("rho", rho)):
        value = real_number(value, name)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
        out[name] = value
    out["eps"] = positive(eps, "eps")
    out["steps"] = positive_int(steps, "steps")
    if out["steps"] > MAX_STEPS:
        raise ValueError(f"steps must be at most {MAX_STEPS}, got {out['steps']}")
    return out


def _surface(surface) -> _surfaces.Surface:
    """``surface`` itself, or the surface of :mod:`kexue.optim.surfaces` it names."""
    if isinstance(surface, _surfaces.Surface):
        return surface
    return _surfaces.get(_surface_name(surface))


def _surface_name(name) -> str:
    if not isinstance(name, str) or name not in _surfaces.SURFACES:
        raise ValueError(f"unknown surface {name!r}; choose one of {sorted(_surfaces.SURFACES)}")
    return name


def torch_optimiser(name: str, params, *, lr, lr_adaptive, beta, rho, eps) -> torch.optim.Optimizer:
    """The torch.optim optimiser the playground calls ``name`` (a key of :data:`OPTIMISERS`)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=beta)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr_adaptive, alpha=rho, eps=eps)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr_adaptive, betas=(beta, rho), eps=eps)
    raise ValueError(f"unknown optimiser {name!r}; choose one of {list(OPTIMISERS)}")


def is_far(surface: _surfaces.Surface, x: float, y: float) -> bool:
    """True where ``(x, y)`` is not finite or lies beyond :data:`FAR` half-widths of the view box."""
    cx, hx = (surface.xlim[0] + surface.xlim[1]) / 2, (surface.xlim[1] - surface.xlim[0]) / 2
    cy, hy = (surface.ylim[0] + surface.ylim[1]) / 2, (surface.ylim[1] - surface.ylim[0]) / 2
    return not (abs(x - cx) <= FAR * hx and abs(y - cy) <= FAR * hy)  # NaN compares False


def trajectory(surface, name: str, **hyper) -> Trajectory:
    """The path of optimiser ``name`` from ``surface.start``: ``steps`` calls of the torch.optim
    optimiser's ``step()`` on ``surface(theta)`` in float64, stopped where it diverges."""
    surface, hyper = _surface(surface), check_hyperparameters(**hyper)
    steps = hyper.pop("steps")
    theta = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
    optimiser = torch_optimiser(name, [theta], **hyper)
    points, diverged = [surface.start], False
    for _ in range(steps):
        optimiser.zero_grad()
        surface(theta).backward()
        optimiser.step()
        x, y = theta.detach().tolist()
        if is_far(surface, x, y):
            diverged = True
            break
        points.append((x, y))
    return Trajectory(np.array(points, dtype=np.float64), diverged)


def trajectories(surface, **hyper) -> dict[str, Trajectory]:
    """:func:`trajectory` of each optimiser of :data:`OPTIMISERS`."""
    return {name: trajectory(surface, name, **hyper) for name in OPTIMISERS}


# -- figures ---------------------------------------------------------------------------------------
#: The axes fit in this many inches (width, height) with equal scales on x and y; margins around.
AXES_BOX, MARGINS, DPI = (5.2, 3.9), dict(left=0.65, right=0.15, bottom=0.5, top=0.3), 100


def surface_figure(surface, legend_space: float = 0.0):
    """A figure holding the contour map of ``surface`` over its exact view box (equal scales,
    log-spaced levels), its minima (stars) and the start point, with ``legend_space`` inches free
    below the axes; returns ``(fig, ax)``."""
    import matplotlib
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.figure import Figure

    surface = _surface(surface)
    (x0, x1), (y0, y1) = surface.xlim, surface.ylim
    scale = min(AXES_BOX[0] / (x1 - x0), AXES_BOX[1] / (y1 - y0))  # inches per unit
    w, h = scale * (x1 - x0), scale * (y1 - y0)
    m = {**MARGINS, "bottom": MARGINS["bottom"] + legend_space}
    width, height = w + m["left"] + m["right"], h + m["bottom"] + m["top"]
    fig = Figure(figsize=(width, height), dpi=DPI)
    ax = fig.add_axes((m["left"] / width, m["bottom"] / height, w / width, h / height))
    X, Y, L = surface.grid(240)
    floor = max(float(np.percentile(L, 0.5)), 1e-3)
    levels = np.geomspace(floor, float(L.max()), 16)
    light_greys = ListedColormap(matplotlib.colormaps["Greys"](np.linspace(0.0, 0.45, 256)))
    ax.contourf(X, Y, np.clip(L, floor, None), levels=levels, norm=LogNorm(), cmap=light_greys)
    ax.contour(X, Y, L, levels=levels, colors="0.6", linewidths=0.5)
    ax.plot(*np.transpose(surface.minima), "*", color="gold", markeredgecolor="k", markersize=12,
            label="minima", zorder=3)
    ax.plot(*surface.start, "o", color="w", markeredgecolor="k", markersize=7, label="start", zorder=3)
    ax.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="x", ylabel="y", title=surface.title)
    return fig, ax


def draw_paths(ax, surface, paths: dict[str, Trajectory]):
    """Each path as a line with a dot per step and a ring at its end, and a legend in the figure's
    lower left corner giving each final loss (or where the path diverged)."""
    surface, handles = _surface(surface), []
    for name, (points, diverged) in paths.items():
        label, colour = OPTIMISERS[name]
        n = len(points) - 1
        status = (f"diverged at step {n + 1}" if diverged
                  else f"L = {float(surface.value(*points[-1])):.3g} after {n} steps")
        handles += ax.plot(points[:, 0], points[:, 1], "-", color=colour, lw=1.6, label=f"{label}: {status}")
        ax.plot(points[:, 0], points[:, 1], ".", color=colour, markersize=3)
        ax.plot(*points[-1], "o", mfc="none", mec=colour, mew=2, markersize=9)
    ax.figure.legend(handles=handles, loc="lower left", fontsize=8, frameon=False)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # no bbox_inches: the axes box must stay where it was drawn
    return buf.getvalue()


def background(name: str) -> dict:
    """The static view's picture of the surface ``name``: a palette PNG (base64), its size, and
    the pixel box ``[left, top, right, bottom]`` of its axes, whose edges are exactly the
    surface's ``xlim`` and ``ylim``."""
    return dict(_background(_surface_name(name)))


@functools.lru_cache(maxsize=None)
def _background(name: str) -> dict:
    fig, ax = surface_figure(name)
    fig.canvas.draw()
    width, height = fig.canvas.get_width_height()
    box = ax.get_window_extent()
    return {"png": palette_png_base64(_png(fig), colors=64), "width": width, "height": height,
            "box": [box.x0, height - box.y1, box.x1, height - box.y0]}


# -- the static view's update rules ----------------------------------------------------------------
#: The four update rules in JavaScript, written in the order of torch's CPU arithmetic
#: (``add_(alpha)``: ``p + alpha * v``; ``addcmul_``: ``s + (value * g) * g``; ``addcdiv_``:
#: ``p + (value * a) / d``; ``lerp_`` with weight ``w``: ``m + w (g - m)`` for ``w < 0.5``, else
#: ``g - (g - m)(1 - w)``). torch's CPU kernels may fuse a multiply-add into one rounding (FMA),
#: which JavaScript cannot, so a step agrees with torch's float64 step to about an ulp.
#: ``kexueOptimiserPaths(grad, start, h, box)`` returns ``{paths: {name: [[x, y], ...]},
#: diverged: {name: bool}}``; ``h`` holds lr, lr_adaptive, beta, rho, eps, steps; ``box`` holds
#: xlim, ylim, far.
UPDATE_RULES_JS = r"""
function kexueOptimiserPaths(grad, start, h, box) {
  var cx = (box.xlim[0] + box.xlim[1]) / 2, hx = (box.xlim[1] - box.xlim[0]) / 2;
  var cy = (box.ylim[0] + box.ylim[1]) / 2, hy = (box.ylim[1] - box.ylim[0]) / 2;
  function far(p) { return !(Math.abs(p[0] - cx) <= box.far * hx && Math.abs(p[1] - cy) <= box.far * hy); }
  var rules = {
    sgd: function (p, g, st, t) {
      for (var i = 0; i < 2; i++) p[i] = p[i] + (-h.lr) * g[i];
    },
    momentum: function (p, g, st, t) {
      for (var i = 0; i < 2; i++) {
        st.v[i] = t === 1 ? g[i] : st.v[i] * h.beta + g[i];
        p[i] = p[i] + (-h.lr) * st.v[i];
      }
    },
    rmsprop: function (p, g, st, t) {
      for (var i = 0; i < 2; i++) {
        st.s[i] = st.s[i] * h.rho + (1 - h.rho) * g[i] * g[i];
        p[i] = p[i] + (-h.lr_adaptive) * g[i] / (Math.sqrt(st.s[i]) + h.eps);
      }
    },
    adam: function (p, g, st, t) {
      var w = 1 - h.beta;
      var stepSize = h.lr_adaptive / (1 - Math.pow(h.beta, t));
      var bc2Sqrt = Math.sqrt(1 - Math.pow(h.rho, t));
      for (var i = 0; i < 2; i++) {
        st.m[i] = w < 0.5 ? st.m[i] + w * (g[i] - st.m[i]) : g[i] - (g[i] - st.m[i]) * (1 - w);
        st.s[i] = st.s[i] * h.rho + (1 - h.rho) * g[i] * g[i];
        p[i] = p[i] + (-stepSize) * st.m[i] / (Math.sqrt(st.s[i]) / bc2Sqrt + h.eps);
      }
    }
  };
  var paths = {}, diverged = {};
  for (var name in rules) {
    var p = [start[0], start[1]], st = {v: [0, 0], m: [0, 0], s: [0, 0]}, path = [[p[0], p[1]]];
    diverged[name] = false;
    for (var t = 1; t <= h.steps; t++) {
      rules[name](p, grad(p[0], p[1]), st, t);
      if (far(p)) { diverged[name] = true; break; }
      path.push([p[0], p[1]]);
    }
    paths[name] = path;
  }
  return {paths: paths, diverged: diverged};
}
"""

_VIEW_JS = r"""
  var root = document.getElementById(UID);
  var data = JSON.parse(root.querySelector(".kx-data").textContent);
  var select = root.querySelector("select.kx-surface"), canvas = root.querySelector("canvas.kx-canvas");
  var ctx = canvas.getContext("2d");
  var inputs = root.querySelectorAll("input.kx-slider"), outs = root.querySelectorAll("output.kx-value");
  var images = {}, grads = {}, values = {};
  for (var name in data.surfaces) {
    var s = data.surfaces[name];
    grads[name] = new Function("x", "y", "return " + s.gradient);
    values[name] = new Function("x", "y", "return " + s.value);
    images[name] = new Image();
    images[name].onload = redraw;
    images[name].src = "data:image/png;base64," + s.png;
  }
  function params() {
    var h = {};
    for (var k = 0; k < inputs.length; k++) {
      var sl = data.sliders[k], v = sl.grid[parseInt(inputs[k].value, 10)];
      h[sl.name] = v;
      outs[k].textContent = String(+v.toPrecision(6));
    }
    return h;
  }
  function redraw() {
    var name = select.value, s = data.surfaces[name], h = params();
    var res = kexueOptimiserPaths(grads[name], s.start, h, {xlim: s.xlim, ylim: s.ylim, far: data.far});
    var b = s.box, img = images[name];
    function px(q) {
      return [b[0] + (q[0] - s.xlim[0]) / (s.xlim[1] - s.xlim[0]) * (b[2] - b[0]),
              b[3] - (q[1] - s.ylim[0]) / (s.ylim[1] - s.ylim[0]) * (b[3] - b[1])];
    }
    if (canvas.width !== s.width) canvas.width = s.width;  // a new size clears the canvas
    if (canvas.height !== s.height) canvas.height = s.height;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    var ready = img.complete && img.naturalWidth > 0;
    if (ready) ctx.drawImage(img, 0, 0);
    ctx.save();
    ctx.beginPath(); ctx.rect(b[0], b[1], b[2] - b[0], b[3] - b[1]); ctx.clip();
    for (var k = 0; k < data.optimisers.length; k++) {
      var o = data.optimisers[k], path = res.paths[o.key], q, j;
      ctx.strokeStyle = o.colour; ctx.fillStyle = o.colour; ctx.lineWidth = 1.8;
      ctx.beginPath();
      for (j = 0; j < path.length; j++) {
        q = px(path[j]);
        if (j) ctx.lineTo(q[0], q[1]); else ctx.moveTo(q[0], q[1]);
      }
      ctx.stroke();
      for (j = 1; j < path.length; j++) { q = px(path[j]); ctx.fillRect(q[0] - 1.5, q[1] - 1.5, 3, 3); }
      q = px(path[path.length - 1]);
      ctx.lineWidth = 2.2; ctx.beginPath(); ctx.arc(q[0], q[1], 6, 0, 2 * Math.PI); ctx.stroke();
      var n = path.length - 1, end = path[n];
      var status = root.querySelector('[data-opt="' + o.key + '"] .kx-status');
      status.textContent = res.diverged[o.key] ? "diverged at step " + (n + 1)
        : "L = " + (+values[name](end[0], end[1]).toPrecision(3)) + " after " + n + " steps";
      status.parentNode.dataset.diverged = res.diverged[o.key] ? "1" : "0";
    }
    ctx.restore();
    h.surface = name;
    root.kexuePaths = res.paths; root.kexueDiverged = res.diverged; root.kexueParams = h;
    root.dataset.ready = ready ? "1" : "0";
  }
  function setSlider(name, value) {
    for (var k = 0; k < inputs.length; k++) if (data.sliders[k].name === name) {
      var grid = data.sliders[k].grid, best = 0;
      for (var i = 0; i < grid.length; i++) {
        if (Math.abs(grid[i] - value) < Math.abs(grid[best] - value)) best = i;
      }
      inputs[k].value = best;
    }
  }
  select.addEventListener("change", function () {
    var d = data.surfaces[select.value].defaults;
    setSlider("lr", d.lr); setSlider("lr_adaptive", d.lr_adaptive);
    redraw();
  });
  for (var k = 0; k < inputs.length; k++) inputs[k].addEventListener("input", redraw);
  root.kexueRedraw = redraw;
  redraw();
"""


# -- the widget ------------------------------------------------------------------------------------
def _slider(name: str, value: float) -> Slider:
    """The slider ``name`` over its grid, with ``value`` added to the grid if it is not on it (to
    12 decimal places, like every :class:`Slider`); outside the grid's range is refused."""
    lo, hi = GRIDS[name][0], GRIDS[name][-1] if name != "steps" else MAX_STEPS
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}] (the slider's range), got {value:g}")
    grid = sorted({round(float(v), 12) for v in [*GRIDS[name], value]})
    return Slider(name, values=grid, value=value, description=DESCRIPTIONS[name])


class OptimiserPlayground(TwoViews):
    """SGD, momentum, RMSprop and Adam on a chosen surface; see :func:`optimiser_playground`."""

    def __init__(self, surface: str, **hyper):
        self.surface = _surface_name(surface)
        hyper = check_hyperparameters(**hyper)
        self.sliders = [_slider(name, hyper[name]) for name in GRIDS]

    def __repr__(self):
        values = ", ".join(f"{s.name}={s.value:g}" for s in self.sliders)
        return f"<OptimiserPlayground: {self.surface}, {values}>"

    @property
    def values(self) -> dict:
        """The sliders' current values (``steps`` as an int)."""
        return {s.name: int(s.value) if s.name == "steps" else s.value for s in self.sliders}

    def figure(self, surface: str | None = None, **hyper):
        """The live view's picture: contours and the torch.optim paths (current values for any
        hyper-parameter not given)."""
        surface = surface or self.surface
        paths = trajectories(surface, **{**self.values, **hyper})
        fig, ax = surface_figure(surface, legend_space=0.8)
        draw_paths(ax, surface, paths)
        return fig

    # -- static view ---------------------------------------------------------------------------
    def static_html(self) -> str:
        """A self-contained HTML block: a <select>, range inputs, a <canvas> over each surface's
        contour picture, a legend, and the update rules in inline JavaScript."""
        uid = next_element_id()
        data = {"surfaces": {}, "far": FAR,
                "sliders": [{"name": s.name, "grid": s.grid} for s in self.sliders],
                "optimisers": [{"key": k, "label": lab, "colour": c} for k, (lab, c) in OPTIMISERS.items()]}
        for name in _surfaces.SURFACES:
            s, picture = _surfaces.get(name), background(name)
            data["surfaces"][name] = {
                "title": s.title, "start": list(s.start), "xlim": list(s.xlim), "ylim": list(s.ylim),
                "gradient": s.javascript["gradient"], "value": s.javascript["value"],
                "defaults": DEFAULT_LR[name], "png": picture["png"], "box": picture["box"],
                "width": picture["width"], "height": picture["height"]}
        options = "".join(
            f'<option value="{name}"{" selected" if name == self.surface else ""}>'
            f'{html.escape(entry["title"])}</option>' for name, entry in data["surfaces"].items())
        legend = "".join(
            f'<li data-opt="{k}" style="list-style:none;margin:.1em 0">'
            f'<span style="display:inline-block;width:1.6em;height:.3em;vertical-align:middle;'
            f'background:{c};margin-right:.4em"></span><strong>{html.escape(lab)}</strong>: '
            f'<span class="kx-status"></span></li>' for k, (lab, c) in OPTIMISERS.items())
        rows = "".join(s.html_row(k, label_width=LABEL_WIDTH) for k, s in enumerate(self.sliders))
        script = UPDATE_RULES_JS + _VIEW_JS.replace("UID", json.dumps(uid), 1)
        return f"""<div class="kx-playground" id="{uid}" data-kind="optimiser-playground">
<label style="display:flex;flex-wrap:wrap;gap:.1em .6em;align-items:center;margin:.2em 0">
<span style="min-width:min({LABEL_WIDTH},100%)">surface</span>
<select class="kx-surface" aria-label="surface" style="max-width:100%">{options}</select></label>
{rows}
<canvas class="kx-canvas" role="img" aria-label="the optimisers' paths over the contours of the loss"
 style="max-width:100%;height:auto;display:block"></canvas>
<ul class="kx-legend" style="padding-left:0;margin:.3em 0">{legend}</ul>
<script type="application/json" class="kx-data">{json.dumps(data)}</script>
<script>(function(){{{script}}})();</script></div>"""

    # -- live view -----------------------------------------------------------------------------
    def widget(self):
        """The live view: a surface dropdown and sliders above an Output that redraws the figure."""
        import ipywidgets as W
        from IPython.display import Image, display

        choose = W.Dropdown(options=[(_surfaces.get(n).title, n) for n in _surfaces.SURFACES],
                            value=self.surface, description="surface",
                            style={"description_width": "initial"})
        controls = {s.name: s.ipywidget() for s in self.sliders}
        out = W.Output()
        state = {"holding": False}

        def redraw(_=None):
            if state["holding"]:
                return
            values = {name: (int(c.value) if name == "steps" else c.value) for name, c in controls.items()}
            image = Image(data=_png(self.figure(choose.value, **values)), format="png")
            with out:
                out.clear_output(wait=True)
                display(image)

        def surface_changed(change):
            state["holding"] = True
            for name, value in DEFAULT_LR[change["new"]].items():
                grid = controls[name].options
                controls[name].value = min(grid, key=lambda option: abs(option[1] - value))[1]
            state["holding"] = False
            redraw()

        choose.observe(surface_changed, names="value")
        for control in controls.values():
            control.observe(redraw, names="value")
        redraw()
        return W.VBox([choose, *controls.values(), out])


def optimiser_playground(surface: str = "rosenbrock", *, lr: float | None = None,
                         lr_adaptive: float | None = None, beta: float = 0.9, rho: float = 0.999,
                         eps: float = 1e-8, steps: int = 150) -> OptimiserPlayground:
    """SGD, SGD with momentum ``beta``, RMSprop (``alpha = rho``) and Adam (``betas = (beta,
    rho)``) from the start of ``surface`` ("quadratic", "rosenbrock" or "himmelblau"), with
    learning rate ``lr`` for the first two and ``lr_adaptive`` for the last two (``None``: the
    surface's defaults, :data:`DEFAULT_LR`). Display it: live controls in a kernel, a static
    playground running the same rules in JavaScript in the built book."""
    defaults = DEFAULT_LR[_surface_name(surface)]
    return OptimiserPlayground(
        surface, lr=defaults["lr"] if lr is None else lr,
        lr_adaptive=defaults["lr_adaptive"] if lr_adaptive is None else lr_adaptive,
        beta=beta, rho=rho, eps=eps, steps=steps)
