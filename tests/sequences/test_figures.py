"""Part VI's figures: Chinese characters drawn with the CJK font's glyphs, never boxes."""
import warnings

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.text import Text

from kexue import data
from kexue.sequences import figures
from kexue.text import fonts


@pytest.fixture
def font():
    (name,) = data.WQY_MICROHEI.files
    if not (data.WQY_MICROHEI.directory() / name).is_file():
        pytest.skip("the CJK font is not in the cache (python -m kexue data wqy-microhei)")
    with matplotlib.rc_context():
        yield fonts.cjk_font_path()


def drawn_characters(fig) -> str:
    """Every character the figure's visible text artists draw (tick labels included)."""
    fig.canvas.draw()
    return "".join(t.get_text() for t in fig.findobj(Text) if t.get_visible())


@pytest.mark.parametrize("axes_first", [False, True])
def test_the_attention_map_draws_every_character_with_a_glyph(font, axes_first):
    """Also on axes made before the CJK font was added (as a chapter's cell makes them)."""
    poem, title = "胜地当通邑，前山有故居。台高秋尽出，林断野无余。", "登卢氏台"
    weights = torch.rand(len(title) + 1, len(poem)).softmax(-1)
    matplotlib.rcParams["font.family"] = ["sans-serif"]
    ax = plt.subplots()[1] if axes_first else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax = figures.attention_map(weights, poem, title, ax=ax, title="注意力 attention")
        text = drawn_characters(ax.figure)
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert set(poem + title) <= set(text)
    assert fonts.missing_glyphs(text.replace("\n", "")) == set()
    plt.close(ax.figure)


def test_attention_map_checks_its_shape():
    with pytest.raises(ValueError, match=r"weights must be \[3, 4\]"):
        figures.attention_map(torch.rand(2, 4), "春眠不觉", "春晓")


def test_training_curves_draw_each_key():
    ax = figures.training_curves({"step": [1, 2], "a": [3.0, 2.0], "b": [1.0, 0.5]},
                                 keys={"a": "loss", "b": "accuracy"})
    assert [line.get_label() for line in ax.get_lines()] == ["loss", "accuracy"]
    plt.close(ax.figure)
