"""The linear-attention chapter's figures draw from record-shaped dicts: the benchmark's rows (a
form skipped at some length) and the language model's curves."""
import matplotlib.pyplot as plt
import pytest

from kexue.sequences import figures


def bench_result():
    rows = []
    for n, naive in ((512, 0.5), (1024, 1.0), (2048, None)):
        rows.append({"n": n, "naive_s": naive, "chunked_s": n * 1e-5, "sdpa_s": n * n * 1e-8,
                     "naive_mib": None if naive is None else n / 4, "chunked_mib": n / 100,
                     "sdpa_mib": n / 200, "naive/chunked": None, "sdpa/chunked": None,
                     "skipped": None if naive else "naive: estimated 4096 MiB > cap 3072 MiB"})
    return {"rows": rows}


def test_attention_scaling_draws_each_form_and_the_guides():
    fig = figures.attention_scaling(bench_result())
    time_ax, memory_ax = fig.axes
    for ax in (time_ax, memory_ax):
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == [*figures.ATTENTION_FORMS.values(), "∝ n", "∝ n²"]
        naive = ax.get_lines()[0]
        assert list(naive.get_xdata()) == [512, 1024]  # the skipped length is left out
        assert ax.get_xscale() == ax.get_yscale() == "log"
    plt.close(fig)


def test_attention_scaling_needs_rows():
    with pytest.raises(ValueError, match="no rows"):
        figures.attention_scaling({"rows": []})


def test_language_model_curves_draw_both_kinds():
    curve = {"step": [50, 100], "validation_perplexity": [700.0, 550.0],
             "train_loss": [7.3, 6.5, 6.2]}  # a loss logged more often than the evaluations
    metrics = {"kinds": {kind: {"curve": curve} for kind in ("softmax", "linear")}}
    fig = figures.language_model_curves(metrics)
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()] == ["softmax attention",
                                                                "linear attention"]
    assert list(left.get_lines()[0].get_xdata()) == [50, 100]
    assert len(right.get_lines()[1].get_ydata()) == 3
    assert left.get_yscale() == "log"
    plt.close(fig)
    with pytest.raises(ValueError, match="no attention kinds"):
        figures.language_model_curves({"kinds": {}})
