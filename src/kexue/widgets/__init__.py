"""Widgets that work two ways through one API: live (ipywidgets, a kernel computing) and static
(the built HTML book, no kernel: precomputed frames, or the model run by JavaScript in the page).

* :class:`Slider`, :class:`SliderFigure` (``slider_figure``): a matplotlib figure redrawn as
  sliders move; the static view holds every frame of the slider grid.
* :func:`latent_explorer` (``latent_explorer``): pick a latent code z (a 2-D pad, cluster means,
  sliders) and see the decoder's image of it; the static view runs the decoder in JavaScript.
* :func:`flow_explorer` (``flow_explorer``): a flow's samples at a temperature and the walk
  between two images' codes; the static view runs the flow's inverse in JavaScript.
* :class:`GeneratorExplorer` (``generator_explorer``): a GAN generator's draws, one of them moved
  coordinate by coordinate, and the walk between two; the static view runs the generator
  (convolutions included, :mod:`kexue.widgets.page_networks`) in JavaScript.
* :class:`AttributionExplorer` (``attribution_explorer``): pick an example and an attribution
  method and see its heat map over the pixels or shading over the characters; precomputed, painted
  by the page.
"""
from .attribution_explorer import AttributionExplorer
from .flow_explorer import flow_explorer
from .generator_explorer import GeneratorExplorer, generator_explorer
from .latent_explorer import latent_explorer
from .slider_figure import Slider, SliderFigure

__all__ = ["AttributionExplorer", "Slider", "SliderFigure", "latent_explorer", "flow_explorer", "GeneratorExplorer",
           "generator_explorer"]
