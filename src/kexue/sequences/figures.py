"""Figures of Part VI: chapters/part6-sequences/couplet-cnn.ipynb,
chapters/part6-sequences/seq2seq-titles.ipynb, chapters/part6-sequences/seq2seq-stopping.ipynb,
chapters/part6-sequences/linear-attention.ipynb, chapters/part6-sequences/bert-segmentation.ipynb,
chapters/part6-sequences/conditional-generation.ipynb and
chapters/part6-sequences/reading-comprehension.ipynb. Figures that draw Chinese characters use the
CJK font of :mod:`kexue.text.fonts`."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..text.fonts import use_cjk_font
from .cloze import ENTITY_TAGS


# -- couplets (chapter 1)
def training_curves(curves: dict, *, keys: dict[str, str], ax=None, title: str | None = None):
    """Each of ``keys`` (record key -> label) against ``curves["step"]`` on one axis."""
    ax = ax or plt.subplots(figsize=(4.5, 3))[1]
    for key, label in keys.items():
        ax.plot(curves["step"], curves[key], marker="o", ms=3, label=label)
    ax.set(xlabel="step", title=title)
    ax.legend(fontsize=8)
    return ax


# -- titles (chapter 2)
def attention_map(weights: torch.Tensor, source: str, output: str, ax=None, title: str | None = None):
    """The decoder's attention ``weights`` ``[len(output) + 1, len(source)]`` (one row per
    generated character and one for EOS) as a heat map, characters on the axes."""
    use_cjk_font()
    family = plt.rcParams["font.family"]  # axes made before the font was added keep the old one
    weights = np.asarray(weights, dtype=float)
    rows = list(output) + ["<eos>"]
    if weights.shape != (len(rows), len(source)):
        raise ValueError(f"weights must be [{len(rows)}, {len(source)}] (output characters + EOS, "
                         f"source characters), got {weights.shape}")
    ax = ax or plt.subplots(figsize=(0.22 * len(source) + 1.5, 0.3 * len(rows) + 1))[1]
    ax.imshow(weights, cmap="Blues", aspect="auto", vmin=0)
    ax.set_xticks(range(len(source)), list(source), fontsize=8, fontfamily=family)
    ax.set_yticks(range(len(rows)), rows, fontsize=9, fontfamily=family)
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=9, fontfamily=family)
    return ax


# -- stopping (chapter 3)
def stop_floor(epsilons=(0.01, 0.03, 0.1), *, steps: int = 80, ax=None, title: str | None = None):
    """The floor ``1 - (1 - ε)^(t+1)`` under the self-terminating layer's stop probability at
    steps ``t = 0, ..., steps - 1`` for each of ``epsilons``, the line 1/2 dashed, and for each ε
    a dot at the step ``t = L - 1`` where the floor first passes 1/2, ``L`` greedy search's bound
    on the number of tokens (:func:`kexue.sequences.stopping.greedy_length_bound`)."""
    from .stopping import eos_floor, greedy_length_bound

    ax = ax or plt.subplots(figsize=(4.5, 3))[1]
    t = np.arange(steps)
    for epsilon in epsilons:
        line = ax.plot(t, eos_floor(epsilon, steps).numpy(), label=f"ε = {epsilon:g}")[0]
        bound = greedy_length_bound(epsilon)
        if bound <= steps:
            ax.plot(bound - 1, float(eos_floor(epsilon, bound)[-1]), "o", ms=5,
                    color=line.get_color())
            ax.annotate(f"L = {bound}", (bound - 1, 0.5), xytext=(3, -12),
                        textcoords="offset points", fontsize=8, color=line.get_color())
    ax.axhline(0.5, color="0.5", ls="--", lw=0.8)
    ax.set(xlabel="step $t$", ylabel=r"$1-(1-\varepsilon)^{t+1}$", ylim=(0, 1),
           xlim=(0, steps - 1), title=title)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def stop_probabilities(curves: dict[str, list], *, epsilon: float | None = None, ax=None,
                       title: str | None = None):
    """The stop probability ``e_t = p(eos | y_<=t, x)`` at each step ``t`` along outputs: for
    each label of ``curves``, a list of 1-D sequences (one per output, ``t = 0`` first) drawn as
    thin lines of one colour; with ``epsilon``, the self-terminating layer's floor dashed (over
    at least two steps, so that it shows beside outputs of one step)."""
    ax = ax or plt.subplots(figsize=(4.5, 3))[1]
    longest = 1
    for i, (label, paths) in enumerate(curves.items()):
        color = f"C{i}"
        for j, path in enumerate(paths):
            path = np.asarray(path, dtype=float)
            if path.ndim != 1 or len(path) == 0:
                raise ValueError(f"each path of {label!r} must be a non-empty 1-D sequence of "
                                 f"stop probabilities, got shape {path.shape}")
            longest = max(longest, len(path))
            ax.plot(np.arange(len(path)), path, color=color, lw=0.8, alpha=0.6, marker=".",
                    ms=3, label=label if j == 0 else None)
    if epsilon is not None:
        from .stopping import eos_floor

        steps = max(longest, 2)
        ax.plot(np.arange(steps), eos_floor(epsilon, steps).numpy(), "k--", lw=1,
                label=f"floor, ε = {epsilon:g}")
    ax.set(xlabel="step $t$", ylabel=r"$e_t=p(\mathrm{eos}\mid y_{\leq t},x)$",
           ylim=(-0.02, 1.02), xlim=(-0.5, max(longest - 1, 1) + 0.5), title=title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)
    return ax


# -- linear attention (chapter 4)
#: the three forms of causal attention that ``python -m kexue bench linear-attention`` times, by
#: the keys of its rows, and how the chapter names them
ATTENTION_FORMS = {"naive": "linear, prefix sums (naive)", "chunked": "linear, chunked (ours)",
                   "sdpa": "softmax (PyTorch SDPA)"}


def attention_scaling(result: dict, *, fig=None):
    """The linear-attention benchmark's ``result`` (its ``rows``): time of a forward and backward
    pass and peak memory against the length n, log-log, a line per form of
    :data:`ATTENTION_FORMS` (lengths a form skipped are left out), with grey guides ∝ n (dotted)
    and ∝ n² (dashed) under the lines."""
    rows = result["rows"]
    if not rows:
        raise ValueError("the benchmark result has no rows")
    fig = fig or plt.figure(figsize=(9, 3.4))
    axes = fig.subplots(1, 2)
    n = np.array([r["n"] for r in rows], dtype=float)
    for ax, unit, label in zip(axes, ("s", "mib"), ("seconds, forward + backward", "peak MiB")):
        lowest = np.inf
        for key, name in ATTENTION_FORMS.items():
            points = [(r["n"], r[f"{key}_{unit}"]) for r in rows if r[f"{key}_{unit}"] is not None]
            if points:
                ax.plot(*zip(*points), marker="o", ms=3, label=name)
                lowest = min(lowest, points[0][1])
        for power, style in ((1, ":"), (2, "--")):
            ax.plot(n, 0.5 * lowest * (n / n[0]) ** power, ls=style, color="0.6", lw=1,
                    label="∝ n" if power == 1 else "∝ n²")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set(xlabel="length n", ylabel=label)
        ax.grid(alpha=0.3, which="major")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def language_model_curves(metrics: dict, *, fig=None):
    """The ``linear-attention-lm`` record's ``metrics``: for each attention kind, the validation
    perplexity per character (log scale) and the training loss against the step."""
    kinds = metrics["kinds"]
    if not kinds:
        raise ValueError("the record holds no attention kinds")
    fig = fig or plt.figure(figsize=(9, 3.2))
    left, right = fig.subplots(1, 2)
    for kind, run in kinds.items():
        curve = run["curve"]
        left.plot(curve["step"], curve["validation_perplexity"], marker="o", ms=3,
                  label=f"{kind} attention")
        loss = curve["train_loss"]
        steps = curve["step"] if len(curve["step"]) == len(loss) else np.arange(1, len(loss) + 1)
        right.plot(steps, loss, marker="o", ms=3, label=f"{kind} attention")
    left.set_yscale("log")
    left.set(xlabel="step", title="validation perplexity per character")
    right.set(xlabel="step", title="training loss (nats per character)")
    left.legend(fontsize=8)
    return _curve_panels(fig, left, right)


def _curve_panels(fig, *axes):
    """The learning-curve figures' finish: small titles, a light grid, a tight layout."""
    for ax in axes:
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# -- the book's BERT and segmentation (chapter 5)
def visibility(mask, labels, *, ax=None, title: str | None = None):
    """A boolean attention mask ``[T, T]`` (True: the query of the row may attend to the key of the
    column) as a grid, the tokens on both axes."""
    use_cjk_font()
    family = plt.rcParams["font.family"]
    ax = ax or plt.subplots(figsize=(0.32 * len(labels) + 1.2, 0.32 * len(labels) + 1))[1]
    ax.imshow(np.asarray(mask, dtype=float), cmap="Greys", vmin=0, vmax=1.4)
    ax.set_xticks(range(len(labels)), labels, fontsize=8, fontfamily=family)
    ax.set_yticks(range(len(labels)), labels, fontsize=8, fontfamily=family)
    ax.set(xlabel="key (attended to)", ylabel="query")
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def mlm_curve(curve: dict, *, fig=None):
    """The ``bert-mlm`` record's learning curve: validation MLM accuracy and perplexity."""
    fig = fig or plt.figure(figsize=(8, 2.8))
    left, right = fig.subplots(1, 2)
    left.plot(curve["step"], curve["validation_accuracy"], marker="o", ms=3)
    right.plot(curve["step"], curve["validation_perplexity"], marker="o", ms=3)
    right.set_yscale("log")
    left.set(xlabel="step", title="validation MLM accuracy")
    right.set(xlabel="step", title="validation perplexity (masked characters)")
    return _curve_panels(fig, left, right)


def impact_map(F, text: str, *, gold_ends=None, cuts=None, ax=None, title: str | None = None):
    """An impact matrix ``F[i, j] = f(x_i, x_j)`` as a heat map with the characters on both axes;
    gold word ends (``gold_ends``: 1 after the last character of a word) as ticks drawn bold, and
    the cuts of a segmentation (``cuts``: positions ``i`` cut after) as dashed lines."""
    use_cjk_font()
    family = plt.rcParams["font.family"]
    F = np.asarray(F, dtype=float)[:len(text), :len(text)]
    ax = ax or plt.subplots(figsize=(4.2, 4))[1]
    ax.imshow(F, cmap="viridis")
    ax.set_xticks(range(len(text)), list(text), fontsize=8, fontfamily=family)
    ax.set_yticks(range(len(text)), list(text), fontsize=8, fontfamily=family)
    ax.tick_params(length=0)
    for i in (() if cuts is None else cuts):
        ax.axvline(i + 0.5, color="w", ls="--", lw=0.8)
        ax.axhline(i + 0.5, color="w", ls="--", lw=0.8)
    if gold_ends is not None:
        for i, end in enumerate(np.asarray(gold_ends)[:len(text) - 1]):
            if end:
                ax.plot([i + 0.5, i + 0.5], [len(text) - 0.5, len(text) + 0.3], color="C3", lw=2,
                        clip_on=False)
    if title:
        ax.set_title(title, fontsize=9, fontfamily=family)
    return ax


def segmentation_explorer(explorer: dict):
    """A :class:`kexue.widgets.SliderFigure` over the sentences a ``bert-segmentation`` run
    published: each sentence's impact matrix, the BERT's cuts at the record's threshold (dashed)
    and the gold word ends (red ticks), with both segmentations written out."""
    from ..widgets import Slider, SliderFigure
    from .segmentation import cut

    texts = ["".join(chr(c) for c in row if c) for row in np.asarray(explorer["codepoints"])]
    threshold = float(np.asarray(explorer["threshold"]).reshape(-1)[0])

    def draw(fig, sentence):
        k = int(sentence)
        text, F = texts[k], np.asarray(explorer["matrices"][k], dtype=float)[:len(texts[k]), :len(texts[k])]
        scores = (np.diagonal(F, 1) + np.diagonal(F, -1)) / 2
        words = cut(text, scores, threshold)
        cuts = np.cumsum([len(w) for w in words])[:-1] - 1
        ends = np.asarray(explorer["gold_ends"][k])
        gold, start = [], 0
        for i in range(len(text)):
            if i == len(text) - 1 or ends[i]:
                gold.append(text[start:i + 1])
                start = i + 1
        ax = fig.subplots()
        impact_map(F, text, gold_ends=ends, cuts=cuts, ax=ax,
                   title="BERT: " + " / ".join(words) + "\ngold: " + " / ".join(gold))
        fig.tight_layout()

    return SliderFigure(draw, [Slider("sentence", values=list(range(len(texts))), value=0,
                                      description="sentence")],
                        figsize=(5.2, 5.2), title="Perturbed-masking impact of held-out sentences")


# -- conditional generation (chapter 6)
def judged_shares(metrics: dict, *, ax=None):
    """The ``cln-sentiment`` record as grouped bars, one group per sentiment: the share of real
    held-out reviews the judge reads as that sentiment, of reviews sampled with that sentiment
    asked for, and of unconditioned samples."""
    ax = ax or plt.subplots(figsize=(5.5, 3))[1]
    unconditioned = metrics["unconditioned_judged_positive"]
    bars = {"real held-out reviews": metrics["real_reviews_judged_right"],
            "sampled, sentiment asked for (CLN)": metrics["judged_as_requested"],
            "sampled, no sentiment asked": {"negative": 1 - unconditioned, "positive": unconditioned}}
    x = np.arange(2)
    for k, (label, shares) in enumerate(bars.items()):
        values = [shares["negative"], shares["positive"]]
        drawn = ax.bar(x + (k - 1) * 0.26, values, 0.26, label=label)
        ax.bar_label(drawn, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, ["judged negative", "judged positive"])
    ax.set(ylim=(0, 1.12), ylabel="share of reviews")
    ax.legend(fontsize=7, loc="upper left", ncol=3, bbox_to_anchor=(0, -0.12))
    return ax


# -- reading comprehension (chapter 7)
def reading_scores(metrics: dict, *, reported: float | None = None, ax=None):
    """The ``rc-cloze`` record's final scores (mean of accuracy and character F1) by entity type
    and overall, for the baseline and both decoding modes; ``reported`` (the post's final score,
    on another task) as a dashed line."""
    ax = ax or plt.subplots(figsize=(5.5, 3))[1]
    names = {"baseline": "most frequent entity", "extractive": "reader, span-constrained",
             "generative": "reader, free"}
    tags = list(metrics["modes"]["baseline"]["by_tag"])
    groups = ["all", *tags]
    x = np.arange(len(groups))
    for k, (mode, label) in enumerate(names.items()):
        m = metrics["modes"][mode]
        values = [m["final"]] + [m["by_tag"][t]["final"] for t in tags]
        drawn = ax.bar(x + (k - 1) * 0.26, values, 0.26, label=label)
        ax.bar_label(drawn, fmt="%.2f", fontsize=7)
    if reported is not None:
        ax.axhline(reported, color="0.3", ls="--", lw=1, label="post 7115 (SogouQA, BERT-base)")
    counts = metrics["modes"]["baseline"]["by_tag"]
    ax.set_xticks(x, [f"all ({metrics['modes']['baseline']['questions']})",
                      *(f"{ENTITY_TAGS[t]} ({counts[t]['questions']})" for t in tags)])
    ax.set(ylim=(0, 1.12), ylabel="final score")
    ax.legend(fontsize=7, loc="upper left", ncol=2, bbox_to_anchor=(0, -0.12))
    return ax
