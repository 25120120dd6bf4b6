"""Slider-driven figures that work two ways through one API.

* Live: in a kernel (Jupyter, Colab) the object displays as ipywidgets sliders driving ``draw``.
* Static: in the built HTML book, where no kernel runs, the same object displays as a
  self-contained HTML block: every frame of the slider grid was drawn when the notebook executed,
  and a few lines of inline JavaScript swap them as the reader moves a slider (no network needed).

Both views are offered in one rich-display bundle (:class:`kexue.widgets._views.TwoViews`).
"""
from __future__ import annotations

import html
import io
import itertools
import json
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..checks import positive_int, real_number
from ._views import TwoViews, next_element_id, palette_png_base64


@dataclass
class Slider:
    """A slider over explicit ``values`` (or ``np.linspace(start, stop, num)``), starting at ``value``."""

    name: str
    values: Sequence[float] | None = None
    start: float | None = None
    stop: float | None = None
    num: int | None = None
    value: float | None = None
    description: str | None = None
    grid: list = field(init=False, repr=False)

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"slider name must be a Python identifier, got {self.name!r}")
        if self.values is None:
            if None in (self.start, self.stop, self.num):
                raise ValueError(f"slider {self.name!r}: give either values or start, stop and num")
            num = positive_int(self.num, f"slider {self.name!r}: num")
            if num < 2:
                raise ValueError(f"slider {self.name!r}: num must be at least 2, got {self.num}")
            start = real_number(self.start, f"slider {self.name!r}: start")
            stop = real_number(self.stop, f"slider {self.name!r}: stop")
            grid = np.linspace(start, stop, num)
        else:
            grid = np.asarray(list(self.values), dtype=float)
            if grid.ndim != 1 or len(grid) < 2:
                raise ValueError(f"slider {self.name!r}: values must be a list of at least 2 numbers")
            if not np.isfinite(grid).all():
                raise ValueError(f"slider {self.name!r}: values must be finite, got {list(self.values)}")
        self.grid = [float(round(v, 12)) for v in grid]
        if self.value is None:
            self.value = self.grid[len(self.grid) // 2]
        real_number(self.value, f"slider {self.name!r}: value")
        self.value = self.grid[self.index_of(self.value)]
        self.description = self.description or self.name

    def index_of(self, value: float) -> int:
        """Index of the grid value nearest to ``value``."""
        return int(np.argmin(np.abs(np.asarray(self.grid) - float(value))))

    def html_row(self, k: int, label_width: str = "7em") -> str:
        """The static view's control: a labelled range input over the grid's indices (``data-k``
        is its position among the widget's sliders) and an <output> showing the value."""
        return (f'<label style="display:flex;flex-wrap:wrap;gap:.1em .6em;align-items:center;margin:.2em 0">'
                f'<span style="min-width:min({label_width},100%)">{html.escape(self.description)}</span>'
                f'<input type="range" class="kx-slider" data-k="{k}" min="0" max="{len(self.grid) - 1}" '
                f'step="1" value="{self.index_of(self.value)}" aria-label="{html.escape(self.description)}" '
                f'style="flex:0 1 12em;min-width:6em">'
                f'<output class="kx-value">{self.value:g}</output></label>')

    def ipywidget(self):
        """The live view's control: an ipywidgets SelectionSlider over the same grid."""
        import ipywidgets as W

        return W.SelectionSlider(options=[(f"{v:g}", v) for v in self.grid], value=self.value,
                                 description=self.description, continuous_update=True,
                                 style={"description_width": "initial"},
                                 layout=W.Layout(width="28em"))


class SliderFigure(TwoViews):
    """A matplotlib figure redrawn by ``draw(fig, **values)`` as sliders move.

    ``max_frames`` bounds the static grid (the product of the sliders' lengths): a static page
    holds every frame, so keep grids small.
    """

    def __init__(self, draw: Callable, sliders: Sequence[Slider], *, figsize=(7.0, 3.2), dpi=72,
                 max_frames: int = 160, title: str | None = None):
        if not callable(draw):
            raise TypeError("draw must be a callable draw(fig, **values)")
        if not sliders:
            raise ValueError("a SliderFigure needs at least one Slider")
        names = [s.name for s in sliders]
        if len(set(names)) != len(names):
            raise ValueError(f"slider names must be distinct, got {names}")
        frames = int(np.prod([len(s.grid) for s in sliders]))
        if frames > max_frames:
            raise ValueError(f"the slider grid has {frames} frames, more than max_frames="
                             f"{max_frames}; use fewer slider values")
        self.draw, self.sliders, self.figsize, self.dpi, self.title = draw, list(sliders), figsize, dpi, title

    def __repr__(self):
        return f"<SliderFigure: {', '.join(s.name for s in self.sliders)}>"

    # -- rendering ---------------------------------------------------------------------------
    def figure(self, **values):
        """A new figure drawn at ``values`` (slider defaults for any not given)."""
        from matplotlib.figure import Figure

        unknown = set(values) - {s.name for s in self.sliders}
        if unknown:
            raise KeyError(f"unknown slider(s) {sorted(unknown)}")
        full = {s.name: values.get(s.name, s.value) for s in self.sliders}
        fig = Figure(figsize=self.figsize, dpi=self.dpi)
        self.draw(fig, **full)
        return fig

    def png(self, **values) -> bytes:
        """The figure at ``values`` as PNG bytes."""
        buf = io.BytesIO()
        self.figure(**values).savefig(buf, format="png")
        return buf.getvalue()

    def _png(self, **values) -> str:
        """A frame for the static page, palette-reduced: every frame of every widget is inlined."""
        return palette_png_base64(self.png(**values))

    def frames(self) -> list[str]:
        """Every frame of the slider grid as base64 palette PNG, the last slider varying fastest."""
        grids = [s.grid for s in self.sliders]
        return [self._png(**dict(zip([s.name for s in self.sliders], combo)))
                for combo in itertools.product(*grids)]

    # -- static view ---------------------------------------------------------------------------
    def static_html(self) -> str:
        """A self-contained HTML block: range inputs, an <img>, every frame, and inline JS."""
        uid = next_element_id()
        frames = self.frames()
        spec = [{"name": s.name, "grid": s.grid, "index": s.index_of(s.value)} for s in self.sliders]
        rows = [s.html_row(k) for k, s in enumerate(self.sliders)]
        title = f"<strong>{html.escape(self.title)}</strong>" if self.title else ""
        data = json.dumps({"sliders": spec, "frames": frames})
        return f"""<div class="kx-widget" id="{uid}" data-kind="slider-figure">{title}
{''.join(rows)}
<div style="overflow-x:auto"><img class="kx-frame" alt="{html.escape(self.title or 'figure')}"
 style="max-width:max(100%,30em)"></div>
<script type="application/json" class="kx-data">{data}</script>
<script>(function(){{
  var root = document.getElementById("{uid}");
  var data = JSON.parse(root.querySelector(".kx-data").textContent);
  var inputs = root.querySelectorAll("input.kx-slider"), outs = root.querySelectorAll("output.kx-value");
  var img = root.querySelector("img.kx-frame");
  function update() {{
    var idx = 0;
    for (var k = 0; k < inputs.length; k++) {{
      var i = parseInt(inputs[k].value, 10);
      idx = idx * data.sliders[k].grid.length + i;
      outs[k].textContent = String(+data.sliders[k].grid[i].toPrecision(6));
    }}
    img.src = "data:image/png;base64," + data.frames[idx];
    root.dataset.frame = idx;
  }}
  for (var k = 0; k < inputs.length; k++) inputs[k].addEventListener("input", update);
  update();
}})();</script></div>"""

    # -- live view -----------------------------------------------------------------------------
    def widget(self):
        """The live view: ipywidgets sliders above an Output that redraws the figure."""
        import ipywidgets as W
        from IPython.display import Image, display

        controls = {s.name: s.ipywidget() for s in self.sliders}
        out = W.Output()

        def redraw(**values):
            image = Image(data=self.png(**values), format="png")
            with out:
                out.clear_output(wait=True)
                display(image)

        W.interactive_output(redraw, controls)
        return W.VBox([*controls.values(), out])
