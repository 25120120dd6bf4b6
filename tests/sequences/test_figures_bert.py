"""The BERT chapter's figures: the UniLM mask grid, the learning curve, an impact map with its
characters and boundaries, and the segmentation explorer's frames from a run's published tensors."""
import warnings

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from kexue.sequences import figures  # noqa: E402
from kexue.sequences.bert import unilm_mask  # noqa: E402


def test_visibility_draws_the_mask_with_its_tokens():
    ax = figures.visibility(unilm_mask(torch.tensor([[0, 0, 1, 1]]))[0], ["a", "b", "c", "d"])
    assert ax.images[0].get_array().tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]


def test_mlm_curve_plots_both_measures():
    fig = figures.mlm_curve({"step": [1, 2], "validation_accuracy": [0.1, 0.2],
                             "validation_perplexity": [90.0, 40.0]})
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == [0.1, 0.2]
    assert fig.axes[1].get_yscale() == "log"


def published(n=2, width=6):
    codes = torch.zeros(n, width, dtype=torch.int32)
    codes[0, :4] = torch.tensor([ord(c) for c in "北京大学"])
    codes[1, :3] = torch.tensor([ord(c) for c in "我爱你"])
    matrices = torch.rand(n, width, width, generator=torch.Generator().manual_seed(0))
    gold = torch.zeros(n, width, dtype=torch.int32)
    gold[0, 1] = 1
    return {"matrices": matrices, "codepoints": codes, "gold_ends": gold,
            "threshold": torch.tensor([10.0])}  # above every score: a cut at every gap


def test_impact_map_labels_characters_without_missing_glyphs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns
        ax = figures.impact_map(torch.rand(4, 4), "北京大学", gold_ends=[0, 1, 0, 0], cuts=[1])
        ax.figure.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == list("北京大学")


def test_segmentation_explorer_has_a_frame_per_sentence():
    explorer = figures.segmentation_explorer(published())
    assert explorer.sliders[0].grid == [0.0, 1.0]
    fig = explorer.figure(sentence=0)
    assert "BERT: 北 / 京 / 大 / 学\ngold: 北京 / 大学" in fig.axes[0].get_title()
    assert len([line for line in fig.axes[0].lines if line.get_linestyle() == "--"]) == 2 * 3
