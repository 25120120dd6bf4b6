"""The latent-space explorer: pick a latent code z and see what the decoder makes of it.

The decoder is an ``nn.Sequential`` the page can run (:mod:`kexue.widgets.page_networks`: linear
layers and element-wise activations, as :func:`kexue.vae.networks.mlp_decoder` builds, and
convolutions). The explorer shows ``decoder(z)`` as an image and lets the reader move z:

* a 2-D latent: a pad with the training codes scattered and coloured by class; a click or a drag on
  the pad (or the two sliders z1, z2) picks z, and a crosshair marks it;
* with ``cluster_means`` (K x d): one button per cluster, showing the decoded mean, sets z to that
  mean; one slider per coordinate moves z away from it (the sliders show the offset), and
  "sample" draws z ~ N(mean_k, I) to show the cluster's variety;
* any other latent: one slider per coordinate.

Two views through one object (:class:`kexue.widgets._views.TwoViews`):

* live, in a kernel: ipywidgets; the REAL torch decoder computes each image (for a 2-D latent the
  pad is a picture redrawn with a crosshair at the sliders' z: an ipywidgets image cannot be
  clicked);
* static, in the built book: the decoder's weights travel in the page as little-endian float16,
  base64-encoded (:func:`export_decoder`), and the page's own JavaScript (:data:`DECODER_JS`,
  :data:`kexue.widgets.page_networks.NETWORK_JS`) evaluates the network for any z the reader
  picks. :func:`decode_exported` is the same computation in NumPy, the reference the browser tests
  hold the page to.
"""
from __future__ import annotations

import base64
import functools
import html
import io
import json
import math
from types import SimpleNamespace

import numpy as np
import torch

from ..checks import float_tensor, positive, positive_int
from ._views import PAINT_GREY_JS, SEEDED_NORMAL_JS, TwoViews, next_element_id
from .page_networks import FORMAT, check_network, decode_exported, export_network
from .page_networks import NETWORK_JS as DECODER_JS

__all__ = ["LatentExplorer", "latent_explorer", "export_decoder", "decode_exported", "DECODER_JS",
           "FORMAT"]

#: At most this many codes are drawn on the pad (a fixed random subset of them).
MAX_POINTS = 3000
#: The seed of the subset of codes drawn, and of the "sample" button's generator.
SEED = 0
#: The decoded image is scaled up to about this many screen pixels along its longer side.
IMAGE_PIXELS = 168
#: The crosshair's colour.
MARK = "#d62728"


# -- the decoder in the page ---------------------------------------------------------------------
def export_decoder(decoder) -> dict:
    """The decoder as the payload the page runs: :func:`kexue.widgets.page_networks.export_network`,
    its errors calling it the decoder."""
    return export_network(decoder, "decoder")


_VIEW_JS = r"""
  var root = document.getElementById(UID);
  var data = JSON.parse(root.querySelector(".kx-data").textContent);
  var decode = kexueNet(data.decoder), d = data.decoder.latent_dim;
  var H = data.image_shape[0], W = data.image_shape[1];
  var inputs = root.querySelectorAll("input.kx-slider");
  var outs = root.querySelectorAll("output.kx-value");
  var image = root.querySelector("canvas.kx-image"), readout = root.querySelector(".kx-readout");
  var pad = root.querySelector("canvas.kx-pad"), buttons = root.querySelectorAll("button.kx-cluster");
  // The state: z = base + offset, base the chosen cluster's mean (zeros without clusters); the
  // sliders show the offset (their positions clamp to their range, the state does not).
  var state = {cluster: data.clusters ? 0 : -1, offset: data.start.slice()};
  function zeros() { return data.start.map(function () { return 0; }); }
  function base() { return state.cluster >= 0 ? data.clusters.means[state.cluster] : zeros(); }
  function currentZ() {
    var b = base();
    return state.offset.map(function (o, i) { return b[i] + o; });
  }

  // Pixels (clipped to [0, 1]) as grey levels on a canvas the size of the image: 1 is black ink.
  function paint(canvas, pixels) { kexuePaintGrey(canvas, pixels, W, H); }

  // The pad: the scatter picture, and a crosshair at z; data.pad.box is the axes' pixel box
  // [left, top, right, bottom], whose edges are exactly xlim and ylim.
  var background = new Image(), P = data.pad;
  function toPixel(z) {
    return [P.box[0] + (z[0] - P.xlim[0]) / (P.xlim[1] - P.xlim[0]) * (P.box[2] - P.box[0]),
            P.box[3] - (z[1] - P.ylim[0]) / (P.ylim[1] - P.ylim[0]) * (P.box[3] - P.box[1])];
  }
  function fromPixel(px, py) {
    return [P.xlim[0] + (px - P.box[0]) / (P.box[2] - P.box[0]) * (P.xlim[1] - P.xlim[0]),
            P.ylim[0] + (P.box[3] - py) / (P.box[3] - P.box[1]) * (P.ylim[1] - P.ylim[0])];
  }
  function drawPad(z) {
    var ctx = pad.getContext("2d"), ready = background.complete && background.naturalWidth > 0;
    ctx.clearRect(0, 0, pad.width, pad.height);
    if (ready) ctx.drawImage(background, 0, 0);
    var q = toPixel(z), b = P.box;
    var cx = Math.floor(q[0]) + 0.5, cy = Math.floor(q[1]) + 0.5;  // lines on pixel centres: crisp
    ctx.save();
    ctx.beginPath(); ctx.rect(b[0], b[1], b[2] - b[0], b[3] - b[1]); ctx.clip();
    ctx.strokeStyle = data.mark; ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(b[0], cy); ctx.lineTo(b[2], cy); ctx.moveTo(cx, b[1]); ctx.lineTo(cx, b[3]);
    ctx.stroke();
    ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(q[0], q[1], 5, 0, 2 * Math.PI); ctx.stroke();
    ctx.restore();
    return ready;
  }

  var api = root.kxExplorer = {decode: decode, z: null, pixels: null, cluster: state.cluster};
  function fmt(v) { return (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(2); }
  function render() {
    var z = currentZ(), pixels = decode(z);
    paint(image, pixels);
    for (var k = 0; k < inputs.length; k++) {
      inputs[k].value = state.offset[k];
      outs[k].textContent = fmt(state.offset[k]);
    }
    for (k = 0; k < buttons.length; k++) {  // the chosen cluster's button is ringed
      buttons[k].setAttribute("aria-pressed", k === state.cluster ? "true" : "false");
      buttons[k].style.boxShadow = k === state.cluster ? "0 0 0 2px " + data.mark : "none";
    }
    root.dataset.ready = !pad || drawPad(z) ? "1" : "0";  // "1" once the pad's picture is drawn
    var text = [];
    if (state.cluster >= 0) text.push(data.clusters.names[state.cluster]);
    if (d <= 4) text.push("z = (" + z.map(fmt).join(", ") + ")");
    readout.textContent = text.join(": ");
    api.z = z; api.pixels = pixels; api.cluster = state.cluster;
  }

  for (var k = 0; k < inputs.length; k++) inputs[k].addEventListener("input", function (ev) {
    state.offset[+ev.target.dataset.k] = +ev.target.value; render();
  });
  if (pad) {
    background.onload = render;
    background.src = "data:image/png;base64," + P.png;
    pad.width = P.width; pad.height = P.height;
    var dragging = false;
    var pick = function (ev) {  // the pointer in the canvas's own pixels (CSS may scale it)
      var r = pad.getBoundingClientRect(), b = P.box;
      var px = Math.min(b[2], Math.max(b[0], (ev.clientX - r.left) * pad.width / r.width));
      var py = Math.min(b[3], Math.max(b[1], (ev.clientY - r.top) * pad.height / r.height));
      var z = fromPixel(px, py), m = base();
      state.offset = [z[0] - m[0], z[1] - m[1]]; render();
    };
    pad.addEventListener("pointerdown", function (ev) {
      dragging = true; pad.setPointerCapture(ev.pointerId); pick(ev);
    });
    pad.addEventListener("pointermove", function (ev) { if (dragging) pick(ev); });
    pad.addEventListener("pointerup", function () { dragging = false; });
    pad.addEventListener("pointercancel", function () { dragging = false; });
  }
  if (data.clusters) {
    // Each cluster's button shows its decoded mean; a press sets z to that mean.
    for (k = 0; k < buttons.length; k++) {
      paint(buttons[k].querySelector("canvas"), decode(data.clusters.means[k]));
      buttons[k].addEventListener("click", function (ev) {
        state.cluster = +ev.currentTarget.dataset.k; state.offset = zeros(); render();
      });
    }
    // "sample": z ~ N(mean, I), from a seeded generator (mulberry32, then Box-Muller).
    var normal = kexueNormal(data.seed);
    root.querySelector("button.kx-sample").addEventListener("click", function () {
      state.offset = state.offset.map(normal); render();
    });
  }
  root.querySelector("button.kx-reset").addEventListener("click", function () {
    state.offset = data.start.slice(); render();
  });
  render();
"""


# -- the explorer ----------------------------------------------------------------------------------
def _names(names, n: int, what: str, default: str) -> list[str]:
    if names is None:
        return [default.format(k) for k in range(n)]
    if isinstance(names, str) or not all(isinstance(s, str) for s in names):
        raise TypeError(f"{what} must be a sequence of strings")
    names = list(names)
    if len(names) < n:
        raise ValueError(f"{what} names {len(names)}, fewer than the {n} needed")
    return names


def _int_labels(labels, n: int) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers (class indices), got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per code, got {labels.shape}")
    if n and labels.min() < 0:
        raise ValueError("labels must be non-negative class indices")
    return labels.astype(np.int64)


class LatentExplorer(TwoViews):
    """Move a latent code and watch the decoded image; see :func:`latent_explorer`."""

    def __init__(self, decoder, *, codes=None, labels=None, class_names=None, cluster_means=None,
                 cluster_names=None, span=3.0, image_shape=(28, 28), title=None):
        self.latent_dim, output_shape = check_network(decoder, "decoder")
        self.decoder = decoder
        if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 2:
            raise ValueError(f"image_shape must be (height, width), got {image_shape!r}")
        self.image_shape = tuple(positive_int(s, "image_shape entries") for s in image_shape)
        width = math.prod(self.image_shape)
        if math.prod(output_shape) != width:
            raise ValueError(f"the decoder gives {math.prod(output_shape)} outputs but image_shape "
                             f"{self.image_shape} needs {width}")
        self.span = positive(span, "span")
        if title is not None and not isinstance(title, str):
            raise TypeError(f"title must be a string, got {type(title).__name__}")
        self.title, d = title, self.latent_dim

        # codes, labels and class names: the pad's scatter (a 2-D latent only)
        self.codes = self.labels = self.class_names = None
        if codes is None:
            if labels is not None or class_names is not None:
                raise ValueError("labels and class_names colour the codes: give codes too")
        else:
            if d != 2:
                raise ValueError(f"codes are drawn on the 2-D pad, which needs a 2-D latent; the "
                                 f"decoder's latent is {d}-D")
            codes = float_tensor(codes, "codes", ndim=2, nonempty=True, numpy_ok=True)
            if codes.shape[1] != 2:
                raise ValueError(f"codes must have shape (n, 2), got {tuple(codes.shape)}")
            n = codes.shape[0]
            keep = np.random.default_rng(SEED).permutation(n)[:MAX_POINTS]  # random drawing order
            self.codes = codes.detach().cpu().double().numpy()[keep]
            if labels is not None:
                self.labels = _int_labels(labels, n)[keep]
                self.class_names = _names(class_names, int(self.labels.max()) + 1, "class_names", "{}")
            elif class_names is not None:
                raise ValueError("class_names name the labels' classes: give labels too")

        # clusters
        self.cluster_means = self.cluster_names = None
        if cluster_means is not None:
            means = float_tensor(cluster_means, "cluster_means", ndim=2, nonempty=True, numpy_ok=True)
            if means.shape[1] != d:
                raise ValueError(f"cluster_means must have shape (K, {d}), one row per cluster in "
                                 f"the decoder's {d}-D latent, got {tuple(means.shape)}")
            self.cluster_means = means.detach().cpu().double().numpy()
            self.cluster_names = _names(cluster_names, len(means), "cluster_names", "cluster {}")
            if len(self.cluster_names) != len(means):
                raise ValueError(f"cluster_names names {len(self.cluster_names)} clusters, "
                                 f"cluster_means holds {len(means)}")
        elif cluster_names is not None:
            raise ValueError("cluster_names name the rows of cluster_means: give cluster_means too")

        # the pad's view box, the sliders' ranges and where z starts (as an offset from the base)
        self.pad_limits = self._pad_limits() if d == 2 else None
        if d == 2 and self.cluster_means is None:
            self.bounds = [tuple(lim) for lim in self.pad_limits]  # the sliders are z itself
            self.start = [float(np.mean(lim)) for lim in self.pad_limits]
        else:
            self.bounds = [(-self.span, self.span)] * d
            self.start = [0.0] * d

    def _pad_limits(self):
        """A square view box (equal scales on both axes): the box around the codes (and cluster
        means) widened by 5%; without codes, [-span, span] widened where a cluster mean lies
        outside."""
        means = self.cluster_means
        if self.codes is None:
            lo, hi = np.full(2, -self.span), np.full(2, self.span)
            if means is not None:
                lo = np.minimum(lo, means.min(0) - 0.05 * self.span)
                hi = np.maximum(hi, means.max(0) + 0.05 * self.span)
            half = float((hi - lo).max()) / 2
        else:
            points = self.codes if means is None else np.concatenate([self.codes, means])
            lo, hi = points.min(0), points.max(0)
            half = max(float((hi - lo).max()) / 2 * 1.05, 1e-3)
        return tuple((float(c - half), float(c + half)) for c in (lo + hi) / 2)

    def __repr__(self):
        parts = [f"{self.latent_dim}-D latent", f"{self.image_shape[0]}x{self.image_shape[1]} image"]
        if self.codes is not None:
            parts.append(f"{len(self.codes)} codes")
        if self.cluster_means is not None:
            parts.append(f"{len(self.cluster_means)} clusters")
        return f"<LatentExplorer: {', '.join(parts)}>"

    # -- the torch decoder ---------------------------------------------------------------------
    def _z(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if z.shape != (self.latent_dim,) or not np.isfinite(z).all():
            raise ValueError(f"z must be {self.latent_dim} finite numbers, got shape {z.shape}")
        return z

    @torch.no_grad()
    def decode(self, z) -> np.ndarray:
        """``decoder(z)`` as an ``image_shape`` float32 array (raw outputs, not clipped): the torch
        decoder in eval mode, its training mode restored afterwards."""
        z, first = self._z(z), next(self.decoder.parameters())
        was_training = self.decoder.training
        self.decoder.eval()
        try:
            out = self.decoder(torch.as_tensor(z, dtype=first.dtype, device=first.device)[None])
        finally:
            self.decoder.train(was_training)
        return out.reshape(self.image_shape).float().cpu().numpy()

    def _scale(self) -> int:
        return max(1, round(IMAGE_PIXELS / max(self.image_shape)))

    def png(self, z) -> bytes:
        """The live view's image of ``decoder(z)``: pixels clipped to [0, 1] as grey levels
        (1 black), each scaled up to a square of :meth:`_scale` screen pixels."""
        return _png(_grey(self.decode(z)), self._scale())

    # -- the pad -------------------------------------------------------------------------------
    def pad_figure(self):
        """The pad's picture (a 2-D latent): the codes coloured by class, the cluster means, equal
        scales; returns ``(fig, ax)``. Its axes box is exactly :attr:`pad_limits`."""
        from matplotlib import colormaps
        from matplotlib.figure import Figure

        if self.latent_dim != 2:
            raise ValueError(f"the pad needs a 2-D latent, the decoder's is {self.latent_dim}-D")
        side, left, right, bottom, top = 3.3, 0.5, 0.15, 0.4, 0.1
        ncol, rows = 4, 0
        if self.class_names is not None:
            rows = -(-len(self.class_names) // ncol)
        legend = 0.18 * rows + (0.1 if rows else 0)
        width, height = left + side + right, bottom + legend + side + top
        fig = Figure(figsize=(width, height), dpi=96)
        ax = fig.add_axes((left / width, (bottom + legend) / height, side / width, side / height))
        if self.codes is not None:
            if self.labels is None:
                ax.scatter(*self.codes.T, s=3, color="0.45", alpha=0.5, linewidths=0)
            else:
                cmap = colormaps["tab10" if len(self.class_names) <= 10 else "tab20"]
                colours = [cmap(k % cmap.N) for k in range(len(self.class_names))]
                ax.scatter(*self.codes.T, s=3, c=[colours[k] for k in self.labels], alpha=0.6,
                           linewidths=0)
                handles = [ax.scatter([], [], s=18, color=c, label=name)
                           for c, name in zip(colours, self.class_names)]
                fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=7,
                           frameon=False, handletextpad=0.1, columnspacing=0.8,
                           bbox_to_anchor=(0.5 * (1 + (left - right) / width), 0.0))
        if self.cluster_means is not None:
            ax.plot(*self.cluster_means.T, "x", color="k", markersize=6, mew=1.5)
            for name, (x, y) in zip(self.cluster_names, self.cluster_means):
                ax.annotate(name, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
        (x0, x1), (y0, y1) = self.pad_limits
        ax.set(xlim=(x0, x1), ylim=(y0, y1))
        ax.set_xlabel("$z_1$", labelpad=1)
        ax.set_ylabel("$z_2$", labelpad=1)
        ax.tick_params(labelsize=7)
        return fig, ax

    @functools.cached_property
    def _pad(self) -> dict:
        """The pad's picture as RGB pixels and the pixel box ``[left, top, right, bottom]`` of its
        axes."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig, ax = self.pad_figure()
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        box = ax.get_window_extent()
        height = rgb.shape[0]
        return {"rgb": rgb, "box": [box.x0, height - box.y1, box.x1, height - box.y0]}

    def pad_png(self, z) -> bytes:
        """The live view's pad: the picture of :meth:`pad_figure` with a crosshair at ``z``."""
        from PIL import Image, ImageDraw

        z = self._z(z)
        pad = self._pad
        (x0, x1), (y0, y1) = self.pad_limits
        left, top, right, bottom = pad["box"]
        px = left + (z[0] - x0) / (x1 - x0) * (right - left)
        py = bottom - (z[1] - y0) / (y1 - y0) * (bottom - top)
        image = Image.fromarray(pad["rgb"])
        draw = ImageDraw.Draw(image)
        if left <= px <= right:
            draw.line([(px, top), (px, bottom)], fill=MARK, width=1)
        if top <= py <= bottom:
            draw.line([(left, py), (right, py)], fill=MARK, width=1)
        draw.ellipse([px - 5, py - 5, px + 5, py + 5], outline=MARK, width=2)
        buf = io.BytesIO()
        image.save(buf, format="png")
        return buf.getvalue()

    # -- static view ---------------------------------------------------------------------------
    def payload(self) -> dict:
        """The static view's data: the exported decoder, the image shape, the start (offsets from
        the base: z itself without clusters), the sample button's seed, the clusters and the pad's
        picture with its axes box (the sliders' ranges are their inputs' min and max)."""
        data = {"decoder": export_decoder(self.decoder), "image_shape": list(self.image_shape),
                "start": list(self.start), "seed": SEED, "mark": MARK, "clusters": None,
                "pad": None}
        if self.cluster_means is not None:
            data["clusters"] = {"means": self.cluster_means.tolist(), "names": self.cluster_names}
        if self.latent_dim == 2:
            from PIL import Image

            # a full-colour PNG: a reduced palette merged the legend's small markers' colours
            buf = io.BytesIO()
            Image.fromarray(self._pad["rgb"]).save(buf, format="png", optimize=True)
            height, width = self._pad["rgb"].shape[:2]
            data["pad"] = {"png": base64.b64encode(buf.getvalue()).decode("ascii"), "width": width,
                           "height": height, "box": self._pad["box"],
                           "xlim": list(self.pad_limits[0]), "ylim": list(self.pad_limits[1])}
        return data

    def _slider_names(self) -> list[str]:
        prefix = "\u0394z" if self.cluster_means is not None else "z"
        return [f"{prefix}{k + 1}" for k in range(self.latent_dim)]

    def static_html(self) -> str:
        """A self-contained HTML block: cluster buttons, the pad, the decoded image on a canvas,
        one range input per latent coordinate, and the decoder run by inline JavaScript."""
        uid = next_element_id()
        data = self.payload()
        h, w = self.image_shape
        scale = self._scale()
        title = f"<strong>{html.escape(self.title)}</strong>" if self.title else ""
        clusters = ""
        if self.cluster_means is not None:  # one button per cluster, its decoded mean above its name
            thumb = max(1, round(2 * IMAGE_PIXELS / 7 / max(h, w)))
            clusters = "".join(
                f'<button type="button" class="kx-cluster" data-k="{k}" aria-pressed="false" '
                f'style="display:flex;flex-direction:column;align-items:center;padding:.15em .3em;'
                f'font-size:80%"><canvas width="{w}" height="{h}" aria-hidden="true" '
                f'style="width:{thumb * w}px;height:{thumb * h}px;image-rendering:pixelated"></canvas>'
                f'{html.escape(name)}</button>' for k, name in enumerate(self.cluster_names))
            clusters = (f'<div class="kx-clusters" style="display:flex;flex-wrap:wrap;gap:.3em;'
                        f'margin:.3em 0">{clusters}</div>')
        pad = ("" if self.latent_dim != 2 else
               '<canvas class="kx-pad" role="img" aria-label="the latent plane: click or drag to '
               'pick z" style="max-width:100%;height:auto;cursor:crosshair;touch-action:none">'
               '</canvas>')
        sliders = "".join(
            f'<label style="display:flex;gap:.3em;align-items:center">'
            f'<span style="min-width:2.6em">{name}</span>'
            f'<input type="range" class="kx-slider" data-k="{k}" min="{lo!r}" max="{hi!r}" '
            f'step="{(hi - lo) / 200!r}" value="{start!r}" aria-label="{name}" '
            f'style="flex:1;min-width:5em">'
            f'<output class="kx-value" style="min-width:3.2em;text-align:right"></output></label>'
            for k, (name, (lo, hi), start) in enumerate(zip(self._slider_names(), self.bounds,
                                                            self.start)))
        buttons = ('<button type="button" class="kx-sample">sample z ~ N(mean, I)</button> '
                   if self.cluster_means is not None else "")
        reset = "back to the mean" if self.cluster_means is not None else "reset"
        script = DECODER_JS + SEEDED_NORMAL_JS + PAINT_GREY_JS + _VIEW_JS.replace("UID", json.dumps(uid), 1)
        payload = json.dumps(data).replace("</", "<\\/")  # no name can close the <script>
        image = (f'<canvas class="kx-image" width="{w}" height="{h}" role="img" '
                 f'aria-label="the decoded image" style="width:{scale * w}px;height:{scale * h}px;'
                 f'image-rendering:pixelated;border:1px solid #ccc"></canvas>')
        grid = "display:grid;grid-template-columns:repeat(auto-fill,minmax(13em,1fr));column-gap:1em"
        return f"""<div class="kx-widget kx-latent-explorer" id="{uid}" data-kind="latent-explorer"
 data-latent-dim="{self.latent_dim}">{title}
{clusters}<div style="display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start">{pad}
<div>{image}<div class="kx-readout" style="font-size:85%;max-width:{scale * w}px"></div></div></div>
<div class="kx-sliders" style="{grid};margin:.3em 0">{sliders}</div>
<div>{buttons}<button type="button" class="kx-reset">{reset}</button></div>
<script type="application/json" class="kx-data">{payload}</script>
<script>(function(){{{script}}})();</script></div>"""

    # -- live view -----------------------------------------------------------------------------
    def widget(self):
        """The live view: ipywidgets sliders (offsets from the chosen cluster's mean), cluster
        buttons with their decoded means, "sample" and "reset" buttons, the image of the torch
        decoder's output, and for a 2-D latent the pad redrawn with a crosshair at z. A slider
        holds z within its range (a sample beyond it is clamped; the static view keeps it). The
        returned box's ``kx`` attribute holds the controls."""
        import ipywidgets as W

        names = self._slider_names()
        sliders = [W.FloatSlider(value=float(np.clip(s, lo, hi)), min=lo, max=hi,
                                 step=(hi - lo) / 200, description=name, continuous_update=True,
                                 readout_format=".2f", style={"description_width": "2.6em"},
                                 layout=W.Layout(width="auto"))
                   for name, s, (lo, hi) in zip(names, self.start, self.bounds)]
        image = W.Image(format="png")
        pad = W.Image(format="png") if self.latent_dim == 2 else None
        state = {"cluster": 0 if self.cluster_means is not None else -1, "holding": False}
        rng = np.random.default_rng(SEED)

        def z_now():
            base = self.cluster_means[state["cluster"]] if state["cluster"] >= 0 else 0.0
            return base + np.array([s.value for s in sliders])

        def redraw(_=None):
            if state["holding"]:
                return
            z = z_now()
            image.value = self.png(z)
            if pad is not None:
                pad.value = self.pad_png(z)
            for k, b in enumerate(cluster_buttons):
                b.button_style = "info" if k == state["cluster"] else ""

        def set_offsets(values):
            state["holding"] = True
            for s, v in zip(sliders, values):
                s.value = float(v)  # a FloatSlider clamps to its range
            state["holding"] = False
            redraw()

        cluster_buttons, rows = [], []
        if self.cluster_means is not None:
            thumbs = []
            for k, (name, mean) in enumerate(zip(self.cluster_names, self.cluster_means)):
                button = W.Button(description=name, layout=W.Layout(width="auto"))

                def choose(_, k=k):
                    state["cluster"] = k
                    set_offsets(np.zeros(self.latent_dim))

                button.on_click(choose)
                cluster_buttons.append(button)
                thumbs.append(W.VBox([W.Image(value=_png(_grey(self.decode(mean)), 2), format="png"),
                                      button], layout=W.Layout(align_items="center")))
            sample = W.Button(description="sample z ~ N(mean, I)", layout=W.Layout(width="auto"))
            sample.on_click(lambda _: set_offsets(rng.standard_normal(self.latent_dim)))
            rows.append(W.HBox(thumbs, layout=W.Layout(flex_flow="row wrap")))
        else:
            sample = None
        reset = W.Button(description="back to the mean" if sample is not None else "reset",
                         layout=W.Layout(width="auto"))
        reset.on_click(lambda _: set_offsets(self.start))
        for s in sliders:
            s.observe(redraw, names="value")
        redraw()
        title = [W.HTML(f"<strong>{html.escape(self.title)}</strong>")] if self.title else []
        grid = W.GridBox(sliders, layout=W.Layout(
            grid_template_columns="repeat(auto-fill, minmax(16em, 1fr))"))
        box = W.VBox([*title, *rows, W.HBox([p for p in (pad, image) if p is not None]), grid,
                      W.HBox([b for b in (sample, reset) if b is not None])])
        box.kx = SimpleNamespace(sliders=sliders, image=image, pad=pad, clusters=cluster_buttons,
                                 sample=sample, reset=reset, z=z_now)
        return box


def _grey(pixels: np.ndarray) -> np.ndarray:
    """Pixels clipped to [0, 1] as uint8 grey levels, 1 black (the book's ``gray_r``)."""
    return np.round(255 * (1 - np.clip(pixels, 0.0, 1.0))).astype(np.uint8)


def _png(grey: np.ndarray, scale: int) -> bytes:
    from PIL import Image

    image = Image.fromarray(grey)
    image = image.resize((grey.shape[1] * scale, grey.shape[0] * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="png")
    return buf.getvalue()


def latent_explorer(decoder, *, codes=None, labels=None, class_names=None, cluster_means=None,
                    cluster_names=None, span: float = 3.0, image_shape=(28, 28),
                    title: str | None = None) -> LatentExplorer:
    """An explorer of ``decoder``'s latent space: pick z and see ``decoder(z)`` as an
    ``image_shape`` image (outputs clipped to [0, 1]; 1 is black ink).

    ``decoder`` is an ``nn.Sequential`` the page can run (:mod:`kexue.widgets.page_networks`);
    its first Linear's input width is the latent dimension d. With d = 2 a
    pad shows ``codes`` (n x 2; at most :data:`MAX_POINTS` of them drawn, a fixed random subset)
    coloured by integer ``labels`` named by ``class_names``, over the codes' range (else
    [-span, span]); a click picks z. ``cluster_means`` (K x d) add one button per cluster (named by
    ``cluster_names``) that sets z to its mean, sliders over [-span, span] for the offset from it,
    and a "sample" button drawing z ~ N(mean, I). Display it: live ipywidgets running the torch
    decoder in a kernel, and in the built book a static view whose JavaScript runs the decoder's
    float16 weights (:func:`export_decoder`) for any z."""
    return LatentExplorer(decoder, codes=codes, labels=labels, class_names=class_names,
                          cluster_means=cluster_means, cluster_names=cluster_names, span=span,
                          image_shape=image_shape, title=title)
