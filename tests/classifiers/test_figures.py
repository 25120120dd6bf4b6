"""Part VII's figures draw what their docstrings say, from records shaped like the experiment's."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kexue.classifiers import figures  # noqa: E402


def test_quadrature_panel_draws_one_line_per_rule_and_skips_missing_points():
    quadrature = {"steps": [1, 2, 4], "rules": {"midpoint": [0.5, 0.1, 0.02],
                                                "trapezoid": [None, 0.2, 0.05]}}
    (ax,) = figures.quadrature_errors({"relu": quadrature}, axes=np.array(
        [matplotlib.pyplot.subplots()[1]]))
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["trapezoid"].get_xdata()) == [2, 4]
    assert list(lines["midpoint"].get_ydata()) == [0.5, 0.1, 0.02]


def test_heat_maps_put_examples_in_columns_and_methods_in_rows():
    images = np.random.default_rng(0).random((3, 784))
    fig = figures.heat_maps(images, {"a": images, "b": -images}, ["x", "y", "z"])
    assert len(fig.axes) == 3 * 3
    assert fig.axes[0].get_title() == "x" and fig.axes[3].get_ylabel() == "a"


def test_deletion_curves_show_each_area_in_the_legend():
    deletion = {"fractions": [0, 0.5, 1], "methods": {"random": {
        "accuracy": [1, 0.9, 0.8], "accuracy_area": 0.9}}}
    (ax,) = figures.deletion_curves({"t": deletion}, axes=np.array([matplotlib.pyplot.subplots()[1]]))
    assert ax.get_legend().get_texts()[0].get_text() == "random (0.900)"


def test_explorer_from_published_tensors():
    n, width = 2, 5
    tensors = {"reviews.codepoints": torch.tensor([[24456, 22909, 0, 0, 0], [24046] * width]),
               "reviews.labels": torch.tensor([1, 0]), "reviews.predicted": torch.tensor([1, 1]),
               "reviews.probability": torch.tensor([0.9, 0.6])}
    for key in ("ig", "gradient", "gradient_times_input"):
        tensors[f"reviews.{key}"] = torch.randn(n, width)
    explorer = figures.explorer(tensors, "reviews", names={0: "negative", 1: "positive"})
    assert explorer.examples[0]["text"] == "很好" and len(explorer.examples[1]["text"]) == width
    assert explorer.examples[1]["caption"] == "label negative, predicted positive (p = 0.60)"
    assert explorer.methods == ["integrated gradients", "gradient", "gradient × input"]


def sweep_record(taus=(0.0, 1.0, 2.0)):
    per_class = [[0.9 - 0.1 * k * t for k in range(3)] for t in taus]
    return {"class_names": ["a", "b", "c"],
            "posthoc_tau": {"taus": list(taus), "per_class_test_acc_first_seed": per_class,
                            "test_balanced_acc": {"median": [0.8, 0.85, 0.83]},
                            "valid_balanced_acc": {"median": [0.79, 0.84, 0.84]}},
            "loss_tau": {"seed": 0, "taus": [0.5, 1.0], "test_balanced_acc": [0.82, 0.86]}}


def test_imbalance_figures_draw_their_data():
    ax = figures.class_counts([500, 50, 5], ["a", "b", "c"])
    assert [p.get_height() for p in ax.patches] == [500, 50, 5] and ax.get_yscale() == "log"
    ax = figures.per_class_accuracy({"cross-entropy": [0.9, 0.5], "post-hoc": [0.8, 0.7]}, ["x", "y"])
    assert sorted(p.get_height() for p in ax.patches) == [0.5, 0.7, 0.8, 0.9]
    d = sweep_record()
    ax = figures.tau_sweep(d["posthoc_tau"], d["loss_tau"])
    assert list(ax.get_lines()[0].get_ydata()) == [0.8, 0.85, 0.83]


def test_tau_slider_has_a_frame_per_tau_and_starts_at_one():
    slider = figures.tau_slider({"one": sweep_record(), "two": sweep_record()})
    assert slider.sliders[0].grid == [0.0, 1.0, 2.0] and slider.sliders[0].value == 1.0
    fig = slider.figure(tau=2.0)
    assert "balanced accuracy 0.700" in fig.axes[0].get_title()
