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
