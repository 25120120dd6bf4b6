import base64
import io
import json
import math
import re

import numpy as np
import pytest
from PIL import Image

from kexue.widgets import Slider, SliderFigure


def draw_line(fig, slope, shift=0.0):
    ax = fig.add_subplot()
    ax.plot([0, 1], [shift, shift + slope])
    ax.set_ylim(-3, 3)


def test_slider_grids_and_defaults():
    s = Slider("t", start=0, stop=1, num=5)
    assert s.grid == [0.0, 0.25, 0.5, 0.75, 1.0] and s.value == 0.5 and s.description == "t"
    assert Slider("a", values=[1, 2, 4], value=3.9).value == 4.0  # snapped to the grid


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="not ok"), "identifier"),
    (dict(name="t", start=0, stop=1), "give either values or start, stop and num"),
    (dict(name="t", start=0, stop=1, num=1), "num must be at least 2"),
    (dict(name="t", start=0, stop=1, num=2.7), "slider 't': num must be a positive int, got 2.7"),
    (dict(name="t", values=[1]), "at least 2 numbers"),
    (dict(name="t", start=math.nan, stop=1, num=5), "slider 't': start must be finite, got nan"),
    (dict(name="t", start=0, stop=math.inf, num=5), "slider 't': stop must be finite, got inf"),
    (dict(name="t", values=[0, math.nan, 1]), r"slider 't': values must be finite, got \[0, nan, 1\]"),
    (dict(name="t", values=[0, 1], value=math.nan), "slider 't': value must be finite, got nan"),
])
def test_slider_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Slider(**kwargs)


def test_figure_rejects_bad_input():
    with pytest.raises(TypeError, match="callable"):
        SliderFigure("draw", [Slider("t", values=[0, 1])])
    with pytest.raises(ValueError, match="at least one Slider"):
        SliderFigure(draw_line, [])
    with pytest.raises(ValueError, match="distinct"):
        SliderFigure(draw_line, [Slider("t", values=[0, 1]), Slider("t", values=[0, 1])])
    with pytest.raises(ValueError, match="121 frames, more than max_frames=100"):
        SliderFigure(draw_line, [Slider("slope", start=0, stop=1, num=11),
                                 Slider("shift", start=0, stop=1, num=11)], max_frames=100)
    fig = SliderFigure(draw_line, [Slider("slope", values=[0, 1])])
    with pytest.raises(KeyError, match="unknown slider"):
        fig.figure(angle=3)


def test_static_html_holds_every_frame_in_grid_order():
    fig = SliderFigure(draw_line, [Slider("slope", values=[-1, 0, 1], value=1),
                                   Slider("shift", values=[0, 1])], title="lines")
    html = fig.static_html()
    payload = json.loads(re.search(r'<script type="application/json" class="kx-data">(.*?)</script>',
                                   html, re.S).group(1))
    assert [s["name"] for s in payload["sliders"]] == ["slope", "shift"]
    assert payload["sliders"][0]["index"] == 2
    assert len(payload["frames"]) == 6 and len(set(payload["frames"])) == 6  # all frames differ
    # the last slider varies fastest: frame 3 is slope=0, shift=1 (as a palette image)
    frame = np.asarray(Image.open(io.BytesIO(base64.b64decode(payload["frames"][3]))).convert("RGB"), float)
    exact = np.asarray(Image.open(io.BytesIO(fig.png(slope=0, shift=1))).convert("RGB"), float)
    other = np.asarray(Image.open(io.BytesIO(fig.png(slope=1, shift=1))).convert("RGB"), float)
    assert frame.shape == exact.shape
    assert np.abs(frame - exact).mean() < 0.25 * np.abs(frame - other).mean()
    assert html.count('type="range"') == 2 and "<script>" in html


def test_bundle_offers_the_static_view_and_the_live_widget():
    fig = SliderFigure(draw_line, [Slider("slope", values=[0, 1])])
    bundle = fig._repr_mimebundle_()
    assert "kx-widget" in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    live = fig.widget()
    assert len(live.children) == 2 and live.children[0].value == 1.0


def test_live_widget_redraws_when_a_slider_moves():
    fig = SliderFigure(draw_line, [Slider("slope", values=[0, 1], value=1),
                                   Slider("shift", values=[0, 2], value=0)])
    drawn = []
    original = fig.png
    fig.png = lambda **values: drawn.append(values) or original(**values)
    live = fig.widget()
    assert drawn[-1] == {"slope": 1.0, "shift": 0.0}  # the first frame is drawn at once
    live.children[0].value = 0.0
    assert drawn[-1] == {"slope": 0.0, "shift": 0.0}
    live.children[1].value = 2.0
    assert drawn[-1] == {"slope": 0.0, "shift": 2.0}


def test_static_views_get_ids_in_the_order_they_are_made_not_random_ones():
    """Ids count up in the process (one kernel per page), so two builds give the same HTML and two
    views on one page never share an id."""
    import re

    from kexue.widgets import _views

    first, second = _views.next_element_id(), _views.next_element_id()
    assert re.fullmatch(r"kx-\d+", first) and int(second[3:]) == int(first[3:]) + 1
