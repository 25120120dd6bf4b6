"""Semi-supervised MNIST with 100 labels: a supervised-only baseline against virtual adversarial
training (Su Jianlin, https://spaces.ac.cn/archives/7466; Miyato et al. 2018, arXiv:1704.03976).

Ten labelled images per class (chosen by the seed) and the rest of the training set without
labels. Both models minimise the cross-entropy on the labelled images; VAT adds, on a batch of
unlabelled images, ``alpha * KL(p(y|x) || p(y|x + eps d))`` with ``d`` the virtual adversarial
direction (:func:`kexue.regularize.adversarial.vat_loss`), and optionally the entropy of
``p(y|x)`` (entropy minimisation, "VAT + EntMin" in the paper).

The experiment's driver (``vat-mnist-100``) is in :mod:`kexue.regularize.experiments`, its figures
in :mod:`kexue.regularize.figures`.

Serves chapters/part2-optimisation/noise-and-adversarial-training.ipynb (post 7466).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime, train
from ..checks import positive, positive_int, real_number
from .adversarial import entropy_from_logits, vat_direction, vat_loss


def mlp(widths=(784, 1200, 600, 300, 150, 10)) -> nn.Sequential:
    """An MNIST MLP as in the VAT authors' code: linear layers of the given widths, each hidden one
    followed by batch-norm and ReLU, and a batch-norm without learned scale on the logits. That
    last one keeps the logits of every batch at unit variance: the network cannot satisfy VAT on
    the unlabelled images by making all of its predictions there nearly uniform."""
    widths = [positive_int(w, "width") for w in widths]
    if len(widths) < 2:
        raise ValueError(f"widths needs an input and an output width, got {widths}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        last = i == len(widths) - 2
        layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b, affine=not last)]
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def cnn(channels=(16, 32), widths=(1568, 128, 10), side: int = 28) -> nn.Sequential:
    """A small convolutional net for flattened ``side x side`` images: for each entry of
    ``channels`` a 3x3 convolution (padding 1, no bias), batch-norm, ReLU and 2x2 max-pooling, then
    :func:`mlp` of ``widths`` on the flattened maps, its batch-norm on the logits included.
    ``widths[0]`` must be what the convolutions leave: ``channels[-1] * (side // 2**k)**2`` for
    ``k = len(channels)``."""
    channels = [positive_int(c, "channel count") for c in channels]
    if not channels:
        raise ValueError("channels is empty: use mlp(widths) for a network without convolutions")
    side = positive_int(side, "side")
    left = side >> len(channels)
    if left == 0 or side % (1 << len(channels)):
        raise ValueError(f"{len(channels)} poolings by 2 do not divide images of side {side}")
    flat = channels[-1] * left * left
    if not widths or widths[0] != flat:
        raise ValueError(f"widths must start with {flat} (the {channels[-1]} maps of side {left} the "
                         f"convolutions leave), got {list(widths)}")
    layers: list[nn.Module] = [nn.Unflatten(1, (1, side, side))]
    for a, b in zip([1] + channels[:-1], channels):
        layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
                   nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), *mlp(widths))


def split_labelled(labels: torch.Tensor, per_class: int, generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(labelled, unlabelled)`` index tensors: ``per_class`` random indices of each class, and
    all the others (sorted)."""
    if labels.ndim != 1 or labels.dtype != torch.int64:
        raise ValueError(f"labels must be a 1-D int64 tensor, got {labels.dtype} of shape "
                         f"{tuple(labels.shape)}")
    per_class = positive_int(per_class, "per_class")
    chosen = []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has only {len(idx)} examples, fewer than {per_class}")
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    labelled = torch.cat(chosen)
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[labelled] = False
    return labelled, mask.nonzero().flatten()


class SemiSupervisedLoss:
    """``loss_fn(model, x_unlabelled)`` for :class:`kexue.train.Trainer`: the cross-entropy on a
    random batch of the labelled set (drawn here, with torch's global generator), plus
    ``alpha * VAT + beta * entropy`` on the unlabelled batch the trainer hands over (``alpha = 0``:
    the supervised baseline, which ignores that batch).

    Batch-norm: the model stays in train mode. The clean unlabelled forward (without gradient,
    or with it when the entropy term needs it) normalises with the clean batch's statistics and
    updates the running statistics, which therefore describe clean data; the perturbed forwards
    of VAT also normalise with their own batch's statistics (as the clean forward did, so the KL
    compares like with like) but leave the running statistics untouched.
    """

    def __init__(self, x_labelled: torch.Tensor, y_labelled: torch.Tensor, *, batch_size: int,
                 alpha: float = 0.0, beta: float = 0.0, epsilon: float = 1.0, xi: float = 1e-2,
                 iterations: int = 1):
        self.x, self.y = x_labelled, y_labelled
        self.batch_size = min(positive_int(batch_size, "batch_size"), len(x_labelled))
        self.alpha = real_number(alpha, "alpha")
        self.beta = real_number(beta, "beta")
        if self.alpha < 0 or self.beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got {alpha} and {beta}")
        self.epsilon, self.xi = positive(epsilon, "epsilon"), positive(xi, "xi")
        self.iterations = positive_int(iterations, "iterations")

    def __call__(self, model: nn.Module, x_unlabelled: torch.Tensor):
        index = torch.randperm(len(self.x), device=self.x.device)[:self.batch_size]
        logits = model(self.x[index])
        loss = F.cross_entropy(logits, self.y[index])
        metrics = {"ce": loss.detach(), "acc": (logits.argmax(1) == self.y[index]).float().mean()}
        if self.alpha == 0 and self.beta == 0:
            return loss, metrics
        if self.beta > 0:
            clean = model(x_unlabelled)
            entropy = entropy_from_logits(clean).mean()
            loss = loss + self.beta * entropy
            metrics["entropy"] = entropy.detach()
        else:
            with torch.no_grad():
                clean = model(x_unlabelled)
        if self.alpha > 0:
            vat = vat_loss(model, x_unlabelled, epsilon=self.epsilon, xi=self.xi,
                           iterations=self.iterations, clean_logits=clean.detach())
            loss = loss + self.alpha * vat
            metrics["vat"] = vat.detach()
        return loss, metrics


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> float:
    """Test accuracy in eval mode (batch-norm with its running statistics)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                      for i in range(0, len(x), batch_size))
    model.train(was_training)
    return correct / len(x)


def top_confusions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int = 2,
                   classes: int = 10) -> list[list[int]]:
    """The ``k`` commonest mistakes in eval mode, as ``[true class, predicted class, count]``."""
    k = positive_int(k, "k")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 2000]).argmax(1) for i in range(0, len(x), 2000)])
    model.train(was_training)
    counts = torch.bincount(y.cpu() * classes + pred.cpu(), minlength=classes * classes)
    counts = counts.view(classes, classes).fill_diagonal_(0).flatten()
    top = torch.topk(counts, k)
    return [[int(i) // classes, int(i) % classes, int(v)] for v, i in zip(top.values, top.indices)]


def _schedule(steps: int, decay_from: float):
    """The learning-rate factor: 1 until ``decay_from * steps``, then linearly down to 0."""
    start = int(decay_from * steps)
    return lambda t: 1.0 if t < start else max(0.0, (steps - t) / max(steps - start, 1))


def train_model(x_labelled, y_labelled, x_unlabelled, *, seed: int, steps: int, lr: float,
                decay_from: float, widths, labelled_batch: int, unlabelled_batch: int,
                alpha: float = 0.0, beta: float = 0.0, epsilon: float = 1.0, xi: float = 1e-2,
                iterations: int = 1, channels=(), description: str = "vat"
                ) -> tuple[nn.Module, train.History]:
    """Train :func:`mlp` of ``widths`` (or, where ``channels`` is given, :func:`cnn`) with Adam
    (learning rate ``lr``, linear decay to 0 from ``decay_from * steps``) through
    :class:`kexue.train.Trainer` on the unlabelled set, the labelled batches drawn inside
    :class:`SemiSupervisedLoss`."""
    runtime.seed_everything(seed)
    model = (cnn(channels, widths) if channels else mlp(widths)).to(x_labelled.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=positive(lr, "lr"))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(steps, decay_from))
    loss_fn = SemiSupervisedLoss(x_labelled, y_labelled, batch_size=labelled_batch, alpha=alpha,
                                 beta=beta, epsilon=epsilon, xi=xi, iterations=iterations)
    history = train.fit(model, optimizer, loss_fn, x_unlabelled, batch_size=unlabelled_batch,
                        steps=steps, seed=seed, callbacks=[train.StepScheduler(scheduler)],
                        log_every=max(steps // 20, 1), description=description)
    return model, history


def perturbed(model: nn.Module, x: torch.Tensor, epsilon: float, *, iterations: int = 1,
              xi: float = 1e-2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d, probabilities at x + eps d)`` for images ``x`` under a trained model in eval mode:
    the virtual adversarial direction and what the model then predicts."""
    epsilon = real_number(epsilon, "epsilon")
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    d = vat_direction(model, x, xi=xi, iterations=iterations)
    with torch.no_grad():
        probs = torch.softmax(model(x + epsilon * d), dim=1)
    model.train(was_training)
    return d, probs


def perturbation_frames(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor,
                        epsilons) -> dict:
    """What the page's perturbation explorer draws, computed once: for each named model, each
    image's virtual adversarial direction ``d`` (:func:`perturbed`) and the class probabilities at
    ``x + eps d`` for every ``eps`` (``probabilities[model, eps, image]``)."""
    epsilons = [real_number(e, "epsilon") for e in epsilons]
    x, y = x.detach().cpu(), y.detach().cpu()
    directions, probabilities = [], []
    for model in models.values():
        model = model.cpu()  # perturbed draws the same direction for every eps (seeded)
        directions.append(perturbed(model, x, 0.0)[0])
        probabilities.append(torch.stack([perturbed(model, x, e)[1] for e in epsilons]))
    return {"names": list(models), "x": x, "y": y, "epsilons": torch.tensor(epsilons),
            "directions": torch.stack(directions), "probabilities": torch.stack(probabilities)}
