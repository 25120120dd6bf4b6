"""Figures of Part VII: chapters/part7-classifiers/integrated-gradients.ipynb and
chapters/part7-classifiers/logit-adjustment.ipynb."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..widgets import AttributionExplorer

#: Colours of the attribution methods, the same in every figure.
METHOD_COLOURS = {"integrated gradients": "C3", "gradient": "C0", "gradient × input": "C2",
                  "random": "0.5"}
RULE_STYLES = {"left": ":", "right": ":", "midpoint": "-", "trapezoid": "--", "gauss-legendre": "-."}


# -- integrated gradients (chapter 1)
def along_the_path(alphas, values, slopes, *, axes=None, title: str | None = None):
    """``F(γ(α))`` (left) and ``g(α) = dF(γ(α))/dα`` (right) along the straight path from the
    baseline (``α = 0``) to the input (``α = 1``), one line per row of ``values``/``slopes``."""
    axes = axes if axes is not None else plt.subplots(1, 2, figsize=(8, 2.8))[1]
    for v, s in zip(np.atleast_2d(values), np.atleast_2d(slopes)):
        axes[0].plot(alphas, v)
        axes[1].plot(alphas, s)
    axes[0].set(xlabel=r"$\alpha$", ylabel=r"$F(\bar x+\alpha(x-\bar x))$", ylim=(0, 1.02))
    axes[1].set(xlabel=r"$\alpha$", ylabel=r"$g(\alpha)$")
    if title:
        axes[0].figure.suptitle(title, fontsize=10)
    return axes


def quadrature_errors(panels: dict[str, dict], *, axes=None):
    """For each panel (title -> a record's ``quadrature`` entry), the median |completeness gap| of
    each rule against its number of steps, log-log, with slopes 1/n and 1/n² in grey."""
    axes = axes if axes is not None else plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2),
                                                      sharey=True)[1]
    for ax, (title, quadrature) in zip(np.atleast_1d(axes), panels.items()):
        steps = np.array(quadrature["steps"], dtype=float)
        for rule, gaps in quadrature["rules"].items():
            shown = [(n, g) for n, g in zip(steps, gaps) if g is not None and g > 0]
            ax.loglog(*zip(*shown), RULE_STYLES[rule], marker="o", ms=3, label=rule)
        top = max(g for gaps in quadrature["rules"].values() for g in gaps if g)
        ax.loglog(steps, top / steps, color="0.7", lw=0.8)
        ax.loglog(steps, top / steps ** 2, color="0.7", lw=0.8)
        ax.text(steps[-1], top / steps[-1], "1/n", fontsize=8, color="0.4", va="bottom")
        ax.text(steps[-1], top / steps[-1] ** 2, "1/n²", fontsize=8, color="0.4", va="bottom")
        ax.set(xlabel="steps n", title=title)
    np.atleast_1d(axes)[0].set_ylabel("median |Σ attributions − ΔF|")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return axes


def heat_maps(images, attributions: dict, captions, *, fig=None):
    """A grid: each column an image (drawn black on white, ``captions`` below the top row) and
    under it its attribution by each method of ``attributions`` (one row per method), red
    positive and blue negative, each map scaled by its own largest magnitude."""
    images = np.asarray(images).reshape(len(images), 28, 28)
    methods = list(attributions)
    fig = fig or plt.figure(figsize=(1.15 * len(images) + 1.1, 1.15 * (len(methods) + 1)))
    axes = fig.subplots(len(methods) + 1, len(images), squeeze=False)
    for c, image in enumerate(images):
        axes[0, c].imshow(image, cmap="gray_r", vmin=0, vmax=1)
        axes[0, c].set_title(captions[c], fontsize=8)
        for r, method in enumerate(methods, 1):
            a = np.asarray(attributions[method][c]).reshape(28, 28)
            top = np.abs(a).max() or 1.0
            axes[r, c].imshow(a, cmap="RdBu_r", vmin=-top, vmax=top)
    for r, method in enumerate(["input", *methods]):
        axes[r, 0].set_ylabel(method.replace(" ", "\n", 1), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def deletion_curves(panels: dict[str, dict], *, key: str = "accuracy", axes=None):
    """For each panel (title -> a record's ``deletion`` entry), ``key`` against the fraction of
    features removed, one line per method, the area under it in the legend."""
    axes = axes if axes is not None else plt.subplots(1, len(panels), figsize=(4 * len(panels), 3))[1]
    for ax, (title, deletion) in zip(np.atleast_1d(axes), panels.items()):
        for method, curve in deletion["methods"].items():
            ax.plot(deletion["fractions"], curve[key], marker="o", ms=3,
                    color=METHOD_COLOURS.get(method),
                    label=f"{method} ({curve[f'{key}_area']:.3f})")
        ax.set(xlabel="fraction removed", title=title, ylim=(0, 1.02))
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel(key)
    return axes


def explorer(tensors: dict, prefix: str, *, names=None, title: str | None = None
             ) -> AttributionExplorer:
    """The attribution explorer of the examples a run published under ``prefix`` (``mnist``,
    ``fashion-mnist`` or ``reviews``): integrated gradients, the plain gradient and gradient ×
    input of each, captioned with the label, the prediction and its probability; ``names`` maps
    class indices to names."""
    methods = {"integrated gradients": "ig", "gradient": "gradient",
               "gradient × input": "gradient_times_input"}
    names = names or {}
    examples = []
    for k in range(len(tensors[f"{prefix}.labels"])):
        label, predicted = (int(tensors[f"{prefix}.{key}"][k]) for key in ("labels", "predicted"))
        caption = (f"label {names.get(label, label)}, predicted {names.get(predicted, predicted)} "
                   f"(p = {float(tensors[f'{prefix}.probability'][k]):.2f})")
        example = {"caption": caption}
        if prefix == "reviews":
            codes = [int(c) for c in tensors["reviews.codepoints"][k] if int(c)]
            example["text"] = "".join(map(chr, codes))
            example["attributions"] = {m: tensors[f"reviews.{key}"][k][:len(codes)]
                                       for m, key in methods.items()}
        else:
            example["image"] = tensors[f"{prefix}.images"][k]
            example["attributions"] = {m: tensors[f"{prefix}.{key}"][k] for m, key in methods.items()}
        examples.append(example)
    return AttributionExplorer(examples, list(methods), title=title)


# -- logit adjustment (chapter 2)
CLASSIFIER_COLOURS = {"cross-entropy": "0.55", "post-hoc": "C1", "logit-adjusted": "C3",
                      "reweighted": "C0"}


def class_counts(counts, names, *, ax=None, title: str | None = None):
    """The training images of each class, on a log scale: the long tail."""
    ax = ax or plt.subplots(figsize=(5, 2.6))[1]
    ax.bar(range(len(counts)), counts, color="0.5")
    ax.set_yscale("log")
    ax.set_xticks(range(len(counts)), names, rotation=45 if max(map(len, names)) > 2 else 0,
                  ha="right" if max(map(len, names)) > 2 else "center", fontsize=8)
    for k, n in enumerate(counts):
        ax.text(k, n, f"{n:,}", ha="center", va="bottom", fontsize=7)
    ax.set(ylabel="training images", title=title)
    return ax


def per_class_accuracy(per_class: dict[str, list], names, *, ax=None, title: str | None = None):
    """Test accuracy of each class (bars grouped by class, one colour per classifier)."""
    ax = ax or plt.subplots(figsize=(7, 2.8))[1]
    width = 0.8 / len(per_class)
    for k, (method, values) in enumerate(per_class.items()):
        ax.bar(np.arange(len(values)) + (k - (len(per_class) - 1) / 2) * width, values, width,
               label=method, color=CLASSIFIER_COLOURS.get(method))
    ax.set_xticks(range(len(names)), names, rotation=45 if max(map(len, names)) > 2 else 0,
                  ha="right" if max(map(len, names)) > 2 else "center", fontsize=8)
    ax.set(ylabel="test accuracy", title=title, ylim=(0, 1.05))
    ax.legend(fontsize=7, ncols=len(per_class), loc="lower left")
    return ax


def tau_sweep(posthoc: dict, loss: dict, *, ax=None, title: str | None = None):
    """Balanced accuracy against τ: the post-hoc correction's median over seeds on the validation
    and test sets (lines), and the logit-adjusted loss trained at each τ (first seed, dots)."""
    ax = ax or plt.subplots(figsize=(4.5, 3))[1]
    ax.plot(posthoc["taus"], posthoc["test_balanced_acc"]["median"], color="C1",
            label="post-hoc, test")
    ax.plot(posthoc["taus"], posthoc["valid_balanced_acc"]["median"], color="C1", ls="--",
            label="post-hoc, validation")
    ax.plot(loss["taus"], loss["test_balanced_acc"], "o", color="C3",
            label=f"adjusted loss, test (seed {loss['seed']})")
    ax.axvline(1.0, color="0.6", lw=0.8)
    ax.set(xlabel=r"$\tau$", ylabel="balanced accuracy", title=title)
    ax.legend(fontsize=7)
    return ax


def tau_slider(datasets: dict[str, dict]):
    """A :class:`kexue.widgets.SliderFigure`: the per-class test accuracy of the post-hoc corrected
    classifier (first seed) at the τ the slider picks, one panel per data set, the uncorrected
    classifier's (τ = 0) in grey behind; precomputed over the record's τ grid."""
    from ..widgets import Slider, SliderFigure

    names = list(datasets)
    taus = datasets[names[0]]["posthoc_tau"]["taus"]

    def draw(fig, tau):
        axes = fig.subplots(1, len(names))
        for ax, name in zip(np.atleast_1d(axes), names):
            sweep = datasets[name]["posthoc_tau"]
            table = sweep["per_class_test_acc_first_seed"]
            k = int(np.argmin(np.abs(np.asarray(sweep["taus"]) - tau)))
            labels = datasets[name]["class_names"]
            x = np.arange(len(labels))
            ax.bar(x, table[0], 0.8, color="0.85", label="τ = 0")
            ax.bar(x, table[k], 0.45, color="C1", label=f"τ = {sweep['taus'][k]:g}")
            balanced = float(np.mean(table[k]))
            ax.set_title(f"{name}: balanced accuracy {balanced:.3f}", fontsize=9)
            ax.set_xticks(x, [s[:5] for s in labels], fontsize=7, rotation=45)
            ax.set_ylim(0, 1.02)
            ax.legend(fontsize=7, loc="lower left")
        fig.tight_layout()

    return SliderFigure(draw, [Slider("tau", values=taus, value=1.0, description="τ")],
                        figsize=(8, 2.8), title="Per-class test accuracy after the post-hoc "
                                                "correction, first seed")
