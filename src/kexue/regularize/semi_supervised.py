"""Semi-supervised MNIST with 100 labels: a supervised-only baseline against virtual adversarial
training (Su Jianlin, https://spaces.ac.cn/archives/7466; Miyato et al. 2018, arXiv:1704.03976).

Ten labelled images per class (chosen by the seed) and the rest of the training set without
labels. Both models minimise the cross-entropy on the labelled images; VAT adds, on a batch of
unlabelled images, ``alpha * KL(p(y|x) || p(y|x + eps d))`` with ``d`` the virtual adversarial
direction (:func:`kexue.regularize.adversarial.vat_loss`), and optionally the entropy of
``p(y|x)`` (entropy minimisation, "VAT + EntMin" in the paper).
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from .. import data, runtime, train
from ..checks import positive, positive_int, real_number
from ..experiments import Reference, experiment
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
                iterations: int = 1, description: str = "vat") -> tuple[nn.Module, train.History]:
    """Train :func:`mlp` with Adam (learning rate ``lr``, linear decay to 0 from
    ``decay_from * steps``) through :class:`kexue.train.Trainer` on the unlabelled set, the
    labelled batches drawn inside :class:`SemiSupervisedLoss`."""
    runtime.seed_everything(seed)
    model = mlp(widths).to(x_labelled.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=positive(lr, "lr"))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(steps, decay_from))
    loss_fn = SemiSupervisedLoss(x_labelled, y_labelled, batch_size=labelled_batch, alpha=alpha,
                                 beta=beta, epsilon=epsilon, xi=xi, iterations=iterations)
    history = train.fit(model, optimizer, loss_fn, x_unlabelled, batch_size=unlabelled_batch,
                        steps=steps, seed=seed, callbacks=[train.StepScheduler(scheduler)],
                        log_every=max(steps // 20, 1), description=description)
    return model, history


def run_seed(config: dict, seed: int) -> dict:
    """One seed: the labelled split, then the baseline and VAT models; accuracies on the
    evaluation set (the test set, or a validation split carved from the training set when
    ``config["validation"] > 0``, for tuning)."""
    dev = runtime.device()
    images, labels = data.mnist("train")
    g = torch.Generator().manual_seed(seed)
    n_val = config["validation"]
    if n_val > 0:  # tune on held-out training images, never on the test set
        perm = torch.randperm(len(labels), generator=g)
        x_eval, y_eval = images[perm[:n_val]], labels[perm[:n_val]]
        images, labels = images[perm[n_val:]], labels[perm[n_val:]]
    else:
        x_eval, y_eval = data.mnist("test")
    labelled, unlabelled = split_labelled(labels, config["per_class"], g)
    if config["n_unlabelled"] < len(unlabelled):
        keep = torch.randperm(len(unlabelled), generator=g)[:config["n_unlabelled"]]
        unlabelled = unlabelled[keep]
    x_l, y_l = data.as_float(images[labelled], device=dev), labels[labelled].to(dev)
    x_u = data.as_float(images[unlabelled], device=dev)
    n_eval = config["n_eval"]
    x_eval, y_eval = data.as_float(x_eval[:n_eval], device=dev), y_eval[:n_eval].to(dev)
    common = dict(seed=seed, lr=config["lr"], decay_from=config["decay_from"],
                  widths=config["widths"], labelled_batch=config["labelled_batch"],
                  unlabelled_batch=config["unlabelled_batch"])
    t0 = time.perf_counter()
    base, base_hist = train_model(x_l, y_l, x_u, steps=config["baseline_steps"],
                                  description=f"baseline, seed {seed}", **common)
    t1 = time.perf_counter()
    vat, vat_hist = train_model(x_l, y_l, x_u, steps=config["steps"], alpha=config["alpha"],
                                beta=config["beta"], epsilon=config["epsilon"], xi=config["xi"],
                                iterations=config["iterations"], description=f"VAT, seed {seed}",
                                **common)
    t2 = time.perf_counter()
    return {"seed": seed, "n_unlabelled": len(x_u), "baseline": accuracy(base, x_eval, y_eval),
            "vat": accuracy(vat, x_eval, y_eval), "confusions": top_confusions(vat, x_eval, y_eval),
            "baseline_s": t1 - t0, "vat_s": t2 - t1,
            "vat_model": vat, "baseline_model": base, "vat_rows": vat_hist.rows,
            "baseline_rows": base_hist.rows,
            "x_eval": x_eval, "y_eval": y_eval}


PAPER_ACCURACY = 98.64  # Miyato et al. 2018, VAT on MNIST with 100 labels: 1.36% test error


@experiment(
    "vat-mnist-100",
    quick=dict(seeds=[0], per_class=10, validation=0, n_unlabelled=5000, n_eval=2000,
               widths=[784, 256, 10], steps=300, baseline_steps=300, labelled_batch=50,
               unlabelled_batch=64, lr=2e-3, decay_from=0.5, alpha=1.0, beta=1.0, epsilon=1.0,
               xi=1e-2, iterations=2, cpu_threads=1),
    full=dict(seeds=[0, 1, 2], per_class=10, validation=0, n_unlabelled=60000, n_eval=10000,
              widths=[784, 512, 256, 10], steps=6000, baseline_steps=1000, labelled_batch=64,
              unlabelled_batch=128, lr=2e-3, decay_from=0.5, alpha=1.0, beta=1.0, epsilon=1.0,
              xi=1e-2, iterations=2, cpu_threads=1),
    metric="test_acc_vat",
    description="Semi-supervised MNIST with 100 labels (10 per class, chosen by the seed), the "
                "rest of the training set unlabelled: an MLP with batch-norm trained on the labels "
                "only, "
                "against the same MLP trained with virtual adversarial training (two power "
                "iterations) plus entropy minimisation on the unlabelled images; test accuracy (%) "
                "per seed and the median. Hyper-parameters chosen on a validation split.",
    post=7466,
    reference=Reference(value=PAPER_ACCURACY, metric="test accuracy (%), VAT, MNIST, 100 labels",
                        where="Miyato et al. 2018 (arXiv:1704.03976), the VAT paper post 7466 "
                              "follows: 1.36% test error"),
)
def run_vat_mnist_100(config: dict):
    """Every seed in ``config["seeds"]``: its own labelled split, a baseline and a VAT model.
    Accuracies are in percent on the test set (or on the validation split when tuning). On the CPU
    the run uses ``cpu_threads`` threads (one by default: the matrices are small and a shared
    machine's cores are contended, where two threads are much slower than one)."""
    previous = torch.get_num_threads()
    if config["cpu_threads"] and runtime.device().type == "cpu":
        torch.set_num_threads(config["cpu_threads"])
    try:
        runs = [run_seed(config, seed) for seed in config["seeds"]]
    finally:
        torch.set_num_threads(previous)
    base = [100 * r["baseline"] for r in runs]
    vat = [100 * r["vat"] for r in runs]
    metrics = {
        "test_acc_vat": statistics.median(vat), "test_acc_baseline": statistics.median(base),
        "vat_acc_per_seed": vat, "baseline_acc_per_seed": base, "seeds": list(config["seeds"]),
        "evaluated_on": "validation" if config["validation"] > 0 else "test",
        "n_labelled": 10 * config["per_class"], "n_unlabelled": runs[0]["n_unlabelled"],
        "vat_top_confusions_per_seed": [r["confusions"] for r in runs],
        "seconds_per_seed": [round(r["baseline_s"] + r["vat_s"], 1) for r in runs],
    }
    first = runs[0]
    artifacts = {key: first[key] for key in ("vat_model", "baseline_model", "vat_rows",
                                              "baseline_rows", "x_eval", "y_eval")}
    return metrics, artifacts


# -- figures -------------------------------------------------------------------------------------
def plot_training(artifacts: dict, fig) -> None:
    """Two panels over the first seed's training: the cross-entropy on the labelled batches for
    both models, and VAT's two unlabelled terms (the virtual adversarial KL and the entropy)."""
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for key, label in (("baseline_rows", "labels only"), ("vat_rows", "VAT + EntMin")):
        rows = artifacts[key]
        ax1.plot([r["step"] for r in rows], [r["ce"] for r in rows], "o-", ms=3, label=label)
    ax1.set(yscale="log", xlabel="step", ylabel="cross-entropy", title="labelled batches")
    rows = artifacts["vat_rows"]
    steps = [r["step"] for r in rows]
    ax2.plot(steps, [r["vat"] for r in rows], "o-", ms=3, color="C1",
             label=r"VAT: KL$(p(\cdot|x)\,\|\,p(\cdot|x+\epsilon d))$")
    if "entropy" in rows[-1]:
        ax2.plot(steps, [r["entropy"] for r in rows], "s--", ms=3, color="C2",
                 label="entropy of $p(\\cdot|x)$")
    ax2.set(yscale="log", xlabel="step", ylabel="nats", title="unlabelled batches (VAT model)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()


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


def explore_perturbation(artifacts: dict, n_images: int = 3, epsilons=None):
    """A slider over ``eps`` and the test image: the image pushed along its virtual adversarial
    direction (for the VAT model and for the baseline, each along its own), and both predictions."""
    from .. import widgets

    epsilons = list(epsilons if epsilons is not None else [0.0, 1.0, 2.0, 3.0, 4.0, 6.0])
    x = artifacts["x_eval"][:n_images].cpu()
    y = artifacts["y_eval"][:n_images].cpu()
    models = {"VAT": artifacts["vat_model"].cpu(), "labels only": artifacts["baseline_model"].cpu()}
    directions = {name: perturbed(m, x, 1.0)[0] for name, m in models.items()}

    def draw(fig, epsilon, image):
        i = int(round(image))
        pictures, probs = [], {}
        for name, model in models.items():
            xe = x[i:i + 1] + epsilon * directions[name][i:i + 1]
            model.eval()
            with torch.no_grad():
                probs[name] = torch.softmax(model(xe), dim=1)[0]
            pictures += [xe.view(28, 28).clamp(0, 1), torch.zeros(28, 4)]
        ax = fig.add_subplot(1, 2, 1)
        ax.imshow(torch.cat(pictures[:-1], dim=1).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(f"x + {epsilon:g} d   (left: VAT, right: labels only)", fontsize=9)
        bar = fig.add_subplot(1, 2, 2)
        for k, (name, p) in enumerate(probs.items()):
            bar.bar(torch.arange(10) + (k - 0.5) * 0.4, p.numpy(), width=0.4, color=f"C{k}",
                    label=f"{name}: {int(p.argmax())} ({float(p.max()):.2f})")
        bar.axvline(int(y[i]), color="C2", lw=6, alpha=0.25, label=f"true class {int(y[i])}")
        bar.set(ylim=(0, 1.05), xticks=range(10), xlabel="class", ylabel="probability")
        bar.legend(fontsize=7, loc="upper left")
        fig.subplots_adjust(left=0.02, right=0.98, bottom=0.2, top=0.88, wspace=0.15)

    return widgets.SliderFigure(draw, [
        widgets.Slider("epsilon", values=epsilons, value=epsilons[len(epsilons) // 2],
                       description="ε (L2, pixels in [0,1])"),
        widgets.Slider("image", values=list(range(n_images)), value=0, description="test image")],
        figsize=(9, 2.8))
