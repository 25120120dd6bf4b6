"""The attribution explorer (kexue.widgets.attribution_explorer) without a browser: quantisation and
colours, a static view that carries everything it shows, a live view with the same pictures, and
bad input refused. The page's painting is held to these colours in
tests/book/test_attribution_explorer.py."""
import base64
import json
import re

import numpy as np
import pytest

from kexue.widgets.attribution_explorer import (
    NEGATIVE,
    POSITIVE,
    AttributionExplorer,
    heat_rgb,
    quantise,
    text_spans,
)


def image_examples(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [{"image": rng.random(784), "caption": f"label {k}",
             "attributions": {"ig": rng.standard_normal(784), "gradient": rng.random(784)}}
            for k in range(n)]


def test_quantise_scales_by_the_largest_magnitude():
    assert quantise([0.5, -1.0, 0.25]).tolist() == [64, -127, 32]
    assert quantise([0.0, 0.0]).tolist() == [0, 0]
    assert quantise([3.0]).dtype == np.int8


def test_heat_colours_run_from_white_to_the_two_signs():
    rgb = heat_rgb(np.array([0, 127, -127, 64], dtype=np.int8))
    assert rgb[0].tolist() == [255, 255, 255]
    assert rgb[1].tolist() == list(POSITIVE) and rgb[2].tolist() == list(NEGATIVE)
    assert (rgb[3] > np.array(POSITIVE)).all() and (rgb[3] < 255).any()


def test_static_view_carries_every_example_and_method():
    explorer = AttributionExplorer(image_examples(), ["ig", "gradient"], title="t")
    page = explorer.static_html()
    assert 'data-kind="attribution-explorer"' in page and "http" not in page
    data = json.loads(re.search(r'class="kx-data">(.*?)</script>', page, re.S).group(1))
    assert data["methods"] == ["ig", "gradient"] and len(data["examples"]) == 3
    levels = np.frombuffer(base64.b64decode(data["examples"][1]["levels"][0]), np.int8)
    assert levels.tolist() == quantise(image_examples()[1]["attributions"]["ig"]).tolist()
    pixels = np.frombuffer(base64.b64decode(data["examples"][2]["image"]), np.uint8)
    assert np.abs(pixels / 255 - image_examples()[2]["image"]).max() <= 0.5 / 255 + 1e-12


def test_text_examples_shade_their_characters():
    examples = [{"text": "很好看", "caption": "positive",
                 "attributions": {"ig": [0.1, -0.2, 0.0]}}]
    explorer = AttributionExplorer(examples, ["ig"])
    spans = text_spans("很好看", quantise([0.1, -0.2, 0.0]))
    assert spans.count("<span") == 3 and "rgba(31,119,180,1.000)" in spans
    assert explorer.payload()["examples"][0]["text"] == "很好看"


def test_live_view_switches_example_and_method():
    pytest.importorskip("ipywidgets")
    explorer = AttributionExplorer(image_examples(), ["ig", "gradient"])
    box = explorer.widget()
    first = box.kx.picture.value
    box.kx.method.value = 1
    assert box.kx.picture.value != first
    box.kx.example.value = 2
    assert box.kx.caption.value == "label 2"
    text = AttributionExplorer([{"text": "差", "caption": "c", "attributions": {"ig": [1.0]}}], ["ig"])
    assert "rgba(214,39,40,1.000)" in text.widget().kx.picture.value


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least one example"):
        AttributionExplorer([], ["ig"])
    with pytest.raises(ValueError, match="distinct"):
        AttributionExplorer(image_examples(), ["ig", "ig"])
    with pytest.raises(ValueError, match="no attributions for"):
        AttributionExplorer(image_examples(), ["ig", "deeplift"])
    with pytest.raises(ValueError, match="one per character"):
        AttributionExplorer([{"text": "好", "attributions": {"ig": [1, 2]}}], ["ig"])
    with pytest.raises(ValueError, match="28×28 pixels"):
        AttributionExplorer([{"image": np.zeros(10), "attributions": {"ig": np.zeros(10)}}], ["ig"])
    with pytest.raises(ValueError, match="'image' or every one a 'text'"):
        AttributionExplorer([image_examples()[0], {"text": "好", "attributions": {"ig": [1]}}],
                            ["ig"])
