"""What every kexue widget shares: one object, two views.

A widget class subclasses :class:`TwoViews` and writes ``static_html()`` (a self-contained HTML
block for the built book, where no kernel runs) and ``widget()`` (the live ipywidgets view).
Displaying the object offers both in one rich-display bundle: Jupyter and Colab pick the widget,
and the book's ``_config.yml`` tells MyST-NB to prefer ``text/html``.
"""
from __future__ import annotations

import base64
import io
import itertools

_ELEMENT_IDS = itertools.count(1)


def next_element_id() -> str:
    """An HTML id for the next static view: ``kx-1``, ``kx-2``, ... in the order views are made in
    this process (one kernel per page), so two builds of a page give the same HTML."""
    return f"kx-{next(_ELEMENT_IDS)}"


class TwoViews:
    """Offer ``static_html()`` as ``text/html`` and ``widget()`` as the live view when displayed."""

    def static_html(self) -> str:
        raise NotImplementedError

    def widget(self):
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": repr(self), "text/html": self.static_html()}
        try:
            live = self.widget()
        except Exception:  # no kernel or no ipywidgets: the static view alone is still complete
            return bundle
        if hasattr(live, "_repr_mimebundle_"):  # ipywidgets 8
            bundle.update({k: v for k, v in live._repr_mimebundle_().items() if k != "text/plain"})
        else:  # ipywidgets 7 (Colab)
            bundle["application/vnd.jupyter.widget-view+json"] = {
                "version_major": 2, "version_minor": 0, "model_id": live.model_id}
        return bundle


#: ``kexueNormal(seed)`` returns a function drawing standard normal numbers from a seeded
#: generator (mulberry32 for uniforms, then Box-Muller): the static views' reproducible draws.
SEEDED_NORMAL_JS = r"""
function kexueNormal(seed) {
  seed = seed >>> 0;
  function uniform() {
    seed = (seed + 0x6D2B79F5) >>> 0;
    var t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return function normal() {
    return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  };
}
"""


def palette_png_base64(png: bytes, colors: int = 128) -> str:
    """``png`` reduced to a ``colors``-colour palette (about a third of the bytes of a matplotlib
    PNG), base64-encoded for inlining in a static page."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    buf = io.BytesIO()
    image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                   dither=Image.Dither.NONE).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


#: ``kexuePaintGrey(canvas, pixels, W, H)`` draws a W x H image of pixels in [0, 1] (clipped; 1 is
#: black, as the book's figures draw digits) into a canvas of that size: every static view's paint.
PAINT_GREY_JS = r"""
function kexuePaintGrey(canvas, pixels, W, H) {
  var ctx = canvas.getContext("2d"), im = ctx.createImageData(W, H);
  for (var i = 0; i < H * W; i++) {
    var v = Math.round(255 * (1 - Math.min(1, Math.max(0, pixels[i]))));
    im.data[4 * i] = im.data[4 * i + 1] = im.data[4 * i + 2] = v; im.data[4 * i + 3] = 255;
  }
  ctx.putImageData(im, 0, 0);
}
"""
