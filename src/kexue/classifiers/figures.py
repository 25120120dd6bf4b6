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
