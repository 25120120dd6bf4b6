"""The CJK font: Chinese text in a figure is drawn with real glyphs, Latin text keeps its font. On the
font in the cache (skipped when it is not there: `python -m kexue data wqy-microhei`)."""
import warnings

import matplotlib
import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

from kexue import data
from kexue.text import fonts


@pytest.fixture
def font():
    (name,) = data.WQY_MICROHEI.files
    if not (data.WQY_MICROHEI.directory() / name).is_file():
        pytest.skip("the CJK font is not in the cache (python -m kexue data wqy-microhei)")
    with matplotlib.rc_context():  # use_cjk_font changes rcParams: restored afterwards
        yield fonts.cjk_font_path()


def test_chinese_text_is_drawn_with_glyphs_and_latin_text_keeps_its_font(font):
    family = fonts.use_cjk_font()
    assert family == "WenQuanYi Micro Hei" and fonts.use_cjk_font() == family
    assert matplotlib.rcParams["font.family"].count(family) == 1  # a second call changes nothing
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.set_title("床前明月光")
    ax.text(0.1, 0.5, "两个黄鹂鸣翠柳\n一行白鹭上青天")
    ax.set_xlabel("epoch 轮次")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    assert not [w for w in caught if "missing from font" in str(w.message)]
    drawn = [t for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    assert {"床前明月光", "epoch 轮次"} <= {t.get_text() for t in drawn}
    for text in drawn:
        paths = [p.path for p in font_manager.fontManager._find_fonts_by_props(text.get_fontproperties())]
        for char in set(text.get_text()) - {" ", "\n"}:
            # matplotlib draws each character with the first font of the chain that has its glyph
            used = next((p for p in paths if not fonts.missing_glyphs(char, p)), None)
            assert used is not None, f"no font in {paths} has a glyph for {char!r}"
            if ord(char) < 0x2E80:  # below the CJK blocks: the usual font
                assert used == paths[0] != str(font)
            else:
                assert used == str(font)


def test_missing_glyphs(font):
    assert fonts.missing_glyphs("床前明月光，疑是地上霜。 \n") == set()
    assert fonts.missing_glyphs("月\ue000光\U000f0000") == {"\ue000", "\U000f0000"}  # private use
    dejavu = font_manager.findfont("DejaVu Sans", fallback_to_default=False)
    assert fonts.missing_glyphs("moon 月", dejavu) == {"月"}
    with pytest.raises(TypeError, match="text must be a str, got list"):
        fonts.missing_glyphs(["月"])


def test_a_missing_font_says_what_was_tried_and_where_to_put_it(monkeypatch, tmp_path):
    nowhere = data.DirectorySource(tmp_path / "none")
    dataset = data.Dataset("wqy-microhei", data.WQY_MICROHEI.files, [nowhere])
    monkeypatch.setattr(data, "WQY_MICROHEI", dataset)
    with pytest.raises(data.DataError, match=r"(?s)could not fetch dataset 'wqy-microhei'.*none.*"
                                             r"put wqy-microhei.ttc"):
        fonts.cjk_font_path(tmp_path / "cache")
