"""A font with Chinese glyphs for figures: WenQuanYi Micro Hei (文泉驿微米黑, 0.2.0-beta; licence
Apache-2.0, or GPL-3+ with the font exception, at your choice; (c) 2008-2009 the WenQuanYi Project,
derived from Google's Droid Sans Fallback). matplotlib's own DejaVu Sans has no CJK glyphs: Chinese
text would be drawn as empty boxes.

The file ``wqy-microhei.ttc`` is fetched by the data layer like a dataset (``python -m kexue data
wqy-microhei``), MD5-verified: from ``/usr/share/fonts/truetype/wqy`` where the font is installed,
else from the Debian package ``fonts-wqy-microhei`` (``apt-get download``, also on Colab).
"""
from __future__ import annotations

import os
from pathlib import Path

from matplotlib import font_manager, rcParams
from matplotlib.ft2font import FT2Font

from .. import data


def cjk_font_path(root: str | os.PathLike | None = None) -> Path:
    """The path of the verified font file (fetched into the cache first if need be)."""
    (name,) = data.WQY_MICROHEI.files
    data.read(data.WQY_MICROHEI, name, root)  # checks its MD5
    return data.WQY_MICROHEI.directory(root) / name


def use_cjk_font(root: str | os.PathLike | None = None) -> str:
    """Register the font with matplotlib and append its family to ``rcParams["font.family"]``, as a
    fallback: each character is drawn with the first family that has a glyph for it, so Latin text
    keeps the usual font and Chinese text gets this one. (Appending it to ``font.sans-serif`` would
    not do: that list names one font to use, the first installed, not a chain of fallbacks.)
    Returns the family name; calling it again changes nothing."""
    path = cjk_font_path(root)
    family = font_manager.FontProperties(fname=path).get_name()
    if all(Path(entry.fname) != path for entry in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    families = rcParams["font.family"]
    if family not in families:
        rcParams["font.family"] = [*families, family]
    return family


def missing_glyphs(text: str, font_path: str | os.PathLike | None = None) -> set[str]:
    """The characters of ``text`` the font at ``font_path`` (default: this CJK font) has no glyph
    for (its glyph index is 0, the "missing" glyph); whitespace, laid out rather than drawn, is
    ignored."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    font = FT2Font(os.fspath(font_path if font_path is not None else cjk_font_path()))
    return {c for c in set(text) if not c.isspace() and font.get_char_index(ord(c)) == 0}
