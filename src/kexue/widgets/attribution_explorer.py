"""An explorer of attributions: pick an example and a method, and see which pixels or characters
the method credits with the model's prediction.

Both views show the same precomputed attributions (nothing is computed when the reader picks):

* static, in the built book: two ``<select>`` menus, and the page paints the image and its heat
  map into canvases (or shades the characters of a text) from data inlined in the page;
* live, in a kernel: ipywidgets menus drawing the same pictures.

Attributions are shown relative to the largest magnitude of that example and method: red where
the attribution is positive (the pixel or character raises the explained output), blue where it
is negative, white or unshaded where it is zero. They travel to the page as signed bytes
(``round(127 a / max|a|)``) and images as bytes (``round(255 x)``), base64-encoded.

Serves chapters/part7-classifiers/integrated-gradients.ipynb.
"""
from __future__ import annotations

import base64
import html
import io
import json
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from ._views import PAINT_GREY_JS, TwoViews, next_element_id

#: Colours of positive and negative attributions (RGB), the page's and the live view's.
POSITIVE, NEGATIVE = (214, 39, 40), (31, 119, 180)


def quantise(values) -> np.ndarray:
    """``round(127 v / max|v|)`` as int8 (all zeros where ``v`` is all zero)."""
    values = np.asarray(values, dtype=np.float64)
    top = np.abs(values).max()
    return np.zeros(values.shape, np.int8) if top == 0 else np.round(127 * values / top).astype(np.int8)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def heat_rgb(levels: np.ndarray) -> np.ndarray:
    """RGB bytes of quantised attributions ``levels`` (int8): white at 0, :data:`POSITIVE` at 127,
    :data:`NEGATIVE` at −127, linear in between."""
    t = np.abs(levels.astype(np.float64))[..., None] / 127
    colour = np.where(levels[..., None] >= 0, np.array(POSITIVE), np.array(NEGATIVE))
    return np.round(255 * (1 - t) + colour * t).astype(np.uint8)


def text_spans(text: str, levels: Sequence[int]) -> str:
    """The characters of ``text`` as ``<span>``s shaded by their quantised attributions."""
    spans = []
    for char, level in zip(text, levels):
        rgb = POSITIVE if level >= 0 else NEGATIVE
        spans.append(f'<span style="background:rgba({rgb[0]},{rgb[1]},{rgb[2]},'
                     f'{abs(int(level)) / 127:.3f})">{html.escape(char)}</span>')
    return "".join(spans)


class AttributionExplorer(TwoViews):
    """Precomputed attributions of ``methods`` for ``examples``.

    Each example is a dict with ``"caption"`` (what the model predicted, the true label) and either
    ``"image"`` (``side × side`` values in [0, 1], 1 drawn black) or ``"text"`` (a string), and
    ``"attributions"``: ``{method: values}``, one value per pixel or character.
    """

    def __init__(self, examples: Sequence[dict], methods: Sequence[str], *, title: str | None = None,
                 side: int = 28, scale: int = 5):
        if not examples:
            raise ValueError("an AttributionExplorer needs at least one example")
        if not methods or len(set(methods)) != len(methods):
            raise ValueError(f"methods must be distinct names, got {list(methods)}")
        kinds = {"image" if "image" in e else "text" if "text" in e else None for e in examples}
        if kinds not in ({"image"}, {"text"}):
            raise ValueError("every example must hold an 'image' or every one a 'text'")
        self.kind, self.side, self.scale = kinds.pop(), side, scale
        self.methods, self.title = list(methods), title
        self.examples = []
        for k, example in enumerate(examples):
            size = side * side if self.kind == "image" else len(example["text"])
            missing = set(self.methods) - set(example.get("attributions", {}))
            if missing:
                raise ValueError(f"example {k} has no attributions for {sorted(missing)}")
            shown = {"caption": str(example.get("caption", ""))}
            if self.kind == "image":
                pixels = np.asarray(example["image"], dtype=np.float64).reshape(-1)
                if pixels.size != size:
                    raise ValueError(f"example {k}: an image of {side}×{side} pixels was expected, "
                                     f"got {pixels.size} values")
                shown["image"] = np.round(255 * np.clip(pixels, 0, 1)).astype(np.uint8)
            else:
                shown["text"] = str(example["text"])
            shown["levels"] = {}
            for method in self.methods:
                values = np.asarray(example["attributions"][method], dtype=np.float64).reshape(-1)
                if values.size != size:
                    raise ValueError(f"example {k}, {method}: {size} attributions (one per "
                                     f"{'pixel' if self.kind == 'image' else 'character'}) were "
                                     f"expected, got {values.size}")
                shown["levels"][method] = quantise(values)
            self.examples.append(shown)

    def __repr__(self):
        return f"<AttributionExplorer: {len(self.examples)} {self.kind}s, {', '.join(self.methods)}>"

    def payload(self) -> dict:
        """What the page needs: per example its caption, image or text, and levels per method."""
        rows = []
        for e in self.examples:
            row = {"caption": e["caption"],
                   "levels": [_b64(e["levels"][m]) for m in self.methods]}
            row.update({"image": _b64(e["image"])} if self.kind == "image" else {"text": e["text"]})
            rows.append(row)
        return {"kind": self.kind, "side": self.side, "methods": self.methods, "examples": rows,
                "positive": POSITIVE, "negative": NEGATIVE}

    def _select(self, css: str, labels: Sequence[str], label: str) -> str:
        options = "".join(f'<option value="{i}">{html.escape(s)}</option>' for i, s in enumerate(labels))
        return (f'<label style="display:flex;flex-wrap:wrap;gap:.2em .5em;align-items:center;'
                f'max-width:100%;margin:.2em 0">{html.escape(label)} <select class="{css}" '
                f'aria-label="{html.escape(label)}" style="max-width:100%;min-width:0">{options}'
                f'</select></label>')

    def static_html(self) -> str:
        uid = next_element_id()
        names = [f"{k + 1}: {e['caption']}" for k, e in enumerate(self.examples)]
        title = f"<strong>{html.escape(self.title)}</strong><br>" if self.title else ""
        size = self.side * self.scale
        pictures = (f'<canvas class="kx-input" width="{self.side}" height="{self.side}" '
                    f'style="width:{size}px;height:{size}px;image-rendering:pixelated;'
                    f'border:1px solid #ccc;margin-right:.5em"></canvas>'
                    f'<canvas class="kx-heat" width="{self.side}" height="{self.side}" '
                    f'style="width:{size}px;height:{size}px;image-rendering:pixelated;'
                    f'border:1px solid #ccc"></canvas>' if self.kind == "image" else
                    '<div class="kx-text" style="font-size:1.15em;line-height:1.9;'
                    'overflow-wrap:anywhere"></div>')
        return f"""<div class="kx-widget" id="{uid}" data-kind="attribution-explorer" data-example="0" data-method="0">{title}
{self._select("kx-example", names, "example")}{self._select("kx-method", self.methods, "method")}
<div class="kx-caption" style="margin:.3em 0"></div>
<div>{pictures}</div>
<script type="application/json" class="kx-data">{json.dumps(self.payload())}</script>
<script>(function(){{
{PAINT_GREY_JS}
  var root = document.getElementById("{uid}");
  var data = JSON.parse(root.querySelector(".kx-data").textContent);
  var pick = root.querySelector("select.kx-example"), method = root.querySelector("select.kx-method");
  function bytes(b64) {{
    var s = atob(b64), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }}
  function levels(e, m) {{ return new Int8Array(bytes(data.examples[e].levels[m]).buffer); }}
  function colour(level, alpha) {{
    var c = level >= 0 ? data.positive : data.negative, t = Math.abs(level) / 127;
    if (alpha) return "rgba(" + c[0] + "," + c[1] + "," + c[2] + "," + t.toFixed(3) + ")";
    return [0, 1, 2].map(function (k) {{ return Math.round(255 * (1 - t) + c[k] * t); }});
  }}
  function update() {{
    var e = parseInt(pick.value, 10), m = parseInt(method.value, 10), ex = data.examples[e];
    var lv = levels(e, m);
    root.querySelector(".kx-caption").textContent = ex.caption;
    if (data.kind === "image") {{
      var W = data.side, raw = bytes(ex.image), pixels = new Float64Array(raw.length);
      for (var i = 0; i < raw.length; i++) pixels[i] = raw[i] / 255;
      kexuePaintGrey(root.querySelector("canvas.kx-input"), pixels, W, W);
      var heat = root.querySelector("canvas.kx-heat"), ctx = heat.getContext("2d");
      var im = ctx.createImageData(W, W);
      for (var j = 0; j < lv.length; j++) {{
        var rgb = colour(lv[j], false);
        im.data[4 * j] = rgb[0]; im.data[4 * j + 1] = rgb[1]; im.data[4 * j + 2] = rgb[2];
        im.data[4 * j + 3] = 255;
      }}
      ctx.putImageData(im, 0, 0);
    }} else {{
      var box = root.querySelector(".kx-text");
      box.textContent = "";
      Array.from(ex.text).forEach(function (ch, k) {{
        var span = document.createElement("span");
        span.textContent = ch;
        span.style.background = colour(lv[k], true);
        box.appendChild(span);
      }});
    }}
    root.dataset.example = e; root.dataset.method = m;
  }}
  pick.addEventListener("change", update);
  method.addEventListener("change", update);
  update();
}})();</script></div>"""

    def _picture(self, e: int, m: int) -> str:
        """The live view's picture of example ``e`` under method ``m``, as HTML."""
        example, levels = self.examples[e], self.examples[e]["levels"][self.methods[m]]
        if self.kind == "text":
            return (f'<div style="font-size:1.15em;line-height:1.9">'
                    f'{text_spans(example["text"], levels)}</div>')
        from PIL import Image

        grey = np.repeat((255 - example["image"]).reshape(self.side, self.side, 1), 3, axis=2)
        cells = []
        for rgb in (grey, heat_rgb(levels).reshape(self.side, self.side, 3)):
            buffer = io.BytesIO()
            Image.fromarray(rgb.astype(np.uint8)).resize(
                (self.side * self.scale,) * 2, Image.Resampling.NEAREST).save(buffer, format="PNG")
            png = base64.b64encode(buffer.getvalue()).decode("ascii")
            cells.append(f'<img src="data:image/png;base64,{png}" '
                         f'style="border:1px solid #ccc;margin-right:.5em">')
        return "".join(cells)

    def widget(self):
        """The live view: the page's two menus above the same picture, drawn in Python. The box's
        ``kx`` attribute holds the controls."""
        import ipywidgets as W

        example = W.Dropdown(options=[(f"{k + 1}: {e['caption']}", k)
                                      for k, e in enumerate(self.examples)], description="example")
        method = W.Dropdown(options=[(m, k) for k, m in enumerate(self.methods)],
                            description="method")
        caption, picture = W.HTML(), W.HTML()

        def update(_=None):
            caption.value = html.escape(self.examples[example.value]["caption"])
            picture.value = self._picture(example.value, method.value)

        example.observe(update, names="value")
        method.observe(update, names="value")
        update()
        title = [W.HTML(f"<strong>{html.escape(self.title)}</strong>")] if self.title else []
        box = W.VBox([*title, W.HBox([example, method]), caption, picture])
        box.kx = SimpleNamespace(example=example, method=method, caption=caption, picture=picture)
        return box
