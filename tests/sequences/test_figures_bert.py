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


def test_judged_shares_draws_the_three_sets_per_sentiment():
    metrics = {"real_reviews_judged_right": {"negative": 0.86, "positive": 0.84},
               "judged_as_requested": {"negative": 0.7, "positive": 0.6},
               "unconditioned_judged_positive": 0.45}
    ax = figures.judged_shares(metrics)
    heights = [round(p.get_height(), 2) for p in ax.patches]
    assert heights == [0.86, 0.84, 0.7, 0.6, 0.55, 0.45]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["judged negative", "judged positive"]


def test_reading_scores_draws_each_mode_by_type_and_the_post():
    def mode(final):
        return {"final": final, "questions": 3,
                "by_tag": {"nr": {"final": final - 0.1, "questions": 1},
                           "ns": {"final": final + 0.1, "questions": 2}}}
    metrics = {"modes": {"baseline": mode(0.5), "extractive": mode(0.6), "generative": mode(0.4)}}
    ax = figures.reading_scores(metrics, reported=0.77)
    heights = [round(p.get_height(), 2) for p in ax.patches]
    assert heights == [0.5, 0.4, 0.6, 0.6, 0.5, 0.7, 0.4, 0.3, 0.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["all (3)", "person (1)", "place (2)"]
    assert ax.get_lines()[0].get_ydata()[0] == 0.77
