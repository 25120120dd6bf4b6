"""Custom layers and what they are for, in PyTorch (Su Jianlin, https://spaces.ac.cn/archives/5765).

The post shows Keras layers beyond the built-in ones: a layer that behaves differently in training
and at test time, a layer with two outputs, a layer that brings its own loss (centre loss). In
PyTorch a layer is an ``nn.Module`` and its gradient comes from autograd; a
``torch.autograd.Function`` takes over the backward pass where we want another gradient than
autograd's (straight-through rounding, gradient reversal) or a hand-derived one (Swish, centre
loss, written to keep only the inputs for the backward pass). Forward hooks read what the layers
compute without changing the model.

The chapter's MNIST run (the experiment ``mnist-callbacks``) trains a small Swish MLP through
``kexue.train`` with the callbacks that the post's second half asks for: a warmup + cosine learning
rate, an exponential moving average of the weights, early stopping and a best-model checkpoint.
"""
from __future__ import annotations

import contextlib
import math
import tempfile
from pathlib import Path

import torch
from torch import nn

from . import classifier, runtime, train
from .checks import float_tensor, fraction, label_tensor, non_negative, positive, positive_int
from .checks import real_number
from .experiments import experiment


# -- a layer with a training phase -----------------------------------------------------------------
class GaussianNoise(nn.Module):
    """``x + std * N(0, I)`` in training mode, ``x`` in eval mode (Keras's ``K.in_train_phase``)."""

    def __init__(self, std: float):
        super().__init__()
        self.std = positive(std, "std")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training else x


# -- Swish with a hand-derived backward --------------------------------------------------------------
class SwishFunction(torch.autograd.Function):
    """``y = x sigmoid(beta x)`` with ``s = sigmoid(beta x)`` and the derivatives

        dy/dx = s (1 + beta x (1 - s)),    dy/dbeta = x^2 s (1 - s).

    Only ``x`` and ``beta`` are saved; ``s`` is recomputed in the backward pass (autograd of the
    expression would keep ``s`` and ``beta x`` as well). ``beta`` broadcasts against ``x``.
    """

    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x, beta)
        return x * torch.sigmoid(beta * x)

    @staticmethod
    def backward(ctx, grad):
        x, beta = ctx.saved_tensors
        s = torch.sigmoid(beta * x)
        ds = s * (1 - s)
        grad_x = grad * (s + beta * x * ds) if ctx.needs_input_grad[0] else None
        grad_beta = (grad * x * x * ds).sum_to_size(beta.shape) if ctx.needs_input_grad[1] else None
        return grad_x, grad_beta


def swish(x: torch.Tensor, beta: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Swish ``x sigmoid(beta x)`` through :class:`SwishFunction` (``beta = 1`` is SiLU)."""
    float_tensor(x, "x")
    if not isinstance(beta, torch.Tensor):
        beta = torch.tensor(real_number(beta, "beta"), dtype=x.dtype, device=x.device)
    float_tensor(beta, "beta")
    try:
        torch.broadcast_shapes(beta.shape, x.shape)
    except RuntimeError:
        raise ValueError(f"beta of shape {tuple(beta.shape)} does not broadcast against x of "
                         f"shape {tuple(x.shape)}") from None
    if torch.broadcast_shapes(beta.shape, x.shape) != x.shape:
        raise ValueError(f"beta of shape {tuple(beta.shape)} would enlarge x of shape "
                         f"{tuple(x.shape)}")
    return SwishFunction.apply(x, beta)


def swish_minimum(beta: float) -> tuple[float, float]:
    """Where Swish is lowest, for ``beta > 0``: ``dy/dx = 0`` means ``1 + u + e^u = 0`` with
    ``u = beta x``, solved by ``u* = -1 - W(1/e)`` (Lambert W), so ``x* = -(1 + W(1/e)) / beta`` and
    ``y* = -W(1/e) / beta``, about ``-0.2785 / beta``."""
    from scipy.special import lambertw

    beta = positive(beta, "beta")
    w = float(lambertw(math.exp(-1)).real)
    return -(1 + w) / beta, -w / beta


class Swish(nn.Module):
    """Swish with a trainable ``beta``: one scalar, or one per feature (the last dimension)."""

    def __init__(self, features: int | None = None, beta: float = 1.0):
        super().__init__()
        shape = () if features is None else (positive_int(features, "features"),)
        self.beta = nn.Parameter(torch.full(shape, real_number(beta, "beta")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return SwishFunction.apply(x, self.beta)


# -- gradients other than autograd's ------------------------------------------------------------------
class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward, the identity's gradient backward (the straight-through estimator):
    the same as ``x + (round(x) - x).detach()``. The true derivative of ``round`` is 0 almost
    everywhere, which would stop all learning upstream."""
    return _RoundSTE.apply(float_tensor(x, "x"))


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def gradient_reversal(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The identity forward, ``-scale`` times the gradient backward (Ganin and Lempitsky, 2015):
    layers before it descend on what layers after it ascend. The same as
    ``(1 + scale) * x.detach() - scale * x``."""
    scale = non_negative(scale, "scale")
    return _GradientReversal.apply(float_tensor(x, "x"), scale)


# -- a layer with two outputs ----------------------------------------------------------------------
class _SplitHalves(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        half = x.shape[-1] // 2
        return x[..., :half].clone(), x[..., half:].clone()

    @staticmethod
    def backward(ctx, grad_first, grad_second):
        # one incoming gradient per output; an output not used downstream sends zeros
        return torch.cat([grad_first, grad_second], dim=-1)


def split_halves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x[..., :d // 2], x[..., d // 2:])``: the post's two-output layer. Its backward pass gets
    one gradient per output and concatenates them."""
    float_tensor(x, "x")
    if x.ndim == 0 or x.shape[-1] < 2:
        raise ValueError(f"x must have at least 2 features in its last dimension, got shape "
                         f"{tuple(x.shape)}")
    return _SplitHalves.apply(x)


# -- a layer with its own loss: centre loss -----------------------------------------------------------
class _CenterLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, labels, centers):
        diff = features - centers[labels]
        ctx.save_for_backward(diff, labels)
        ctx.num_classes = centers.shape[0]
        return 0.5 * (diff * diff).sum() / features.shape[0]

    @staticmethod
    def backward(ctx, grad):
        diff, labels = ctx.saved_tensors
        g = grad * diff / diff.shape[0]
        grad_features = g if ctx.needs_input_grad[0] else None
        grad_centers = None
        if ctx.needs_input_grad[2]:
            grad_centers = torch.zeros(ctx.num_classes, diff.shape[1], dtype=diff.dtype,
                                       device=diff.device).index_add_(0, labels, -g)
        return grad_features, None, grad_centers


def center_loss(features: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Centre loss (Wen et al., 2016), ``L = 1/(2n) sum_i ||f_i - c_{y_i}||^2``, with its gradients

        dL/df_i = (f_i - c_{y_i}) / n,    dL/dc_j = -(1/n) sum_{i: y_i = j} (f_i - c_j).
    """
    float_tensor(features, "features", ndim=2, nonempty=True)
    float_tensor(centers, "centers", ndim=2, nonempty=True)
    label_tensor(labels, "labels", n=len(features))
    if centers.shape[1] != features.shape[1]:
        raise ValueError(f"centers must have {features.shape[1]} columns like features, got "
                         f"{centers.shape[1]}")
    if labels.min() < 0 or labels.max() >= centers.shape[0]:
        raise ValueError(f"labels must be in [0, {centers.shape[0]}), got values from "
                         f"{int(labels.min())} to {int(labels.max())}")
    return _CenterLoss.apply(features, labels, centers)


class CenterLoss(nn.Module):
    """Trainable class centres ``c_1, ..., c_k`` in feature space, and the centre loss of a batch."""

    def __init__(self, num_classes: int, dim: int, *, generator: torch.Generator | None = None):
        super().__init__()
        num_classes, dim = positive_int(num_classes, "num_classes"), positive_int(dim, "dim")
        self.centers = nn.Parameter(torch.randn(num_classes, dim, generator=generator))

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return center_loss(features, labels, self.centers)


# -- forward hooks ----------------------------------------------------------------------------------
class ActivationRecorder:
    """Record what named submodules of ``model`` output (detached), with forward hooks.

    ``names`` defaults to every leaf module. ``activations[name]`` holds the latest output (a tensor,
    or a tuple for a module with several outputs). ``remove()`` (or leaving a ``with`` block)
    takes the hooks off; the model is never changed.
    """

    def __init__(self, model: nn.Module, names: list[str] | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        modules = dict(model.named_modules())
        if names is None:
            names = [n for n, m in modules.items() if n and not any(True for _ in m.children())]
        else:
            names = list(names)
            unknown = [n for n in names if n not in modules]
            if unknown:
                raise KeyError(f"no submodules named {unknown}; the model has "
                               f"{[n for n in modules if n]}")
        if not names:
            raise ValueError("nothing to record: the model has no submodules")
        self.activations: dict[str, torch.Tensor | tuple] = {}
        self._handles = [modules[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name: str):
        def record(module, inputs, output):
            self.activations[name] = (tuple(o.detach() for o in output)
                                      if isinstance(output, tuple) else output.detach())
        return record

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> "ActivationRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


# -- the chapter's MNIST run --------------------------------------------------------------------
def warmup_cosine(optimizer: torch.optim.Optimizer, *, warmup: int, total: int,
                  floor: float = 0.0) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step schedule: a linear warmup ``lr (t + 1) / warmup`` for steps ``t < warmup``, then a
    cosine from ``lr`` down to ``floor * lr`` at step ``total``, ``lr`` being the optimiser's rate
    (the floor uses the first parameter group's). Made of torch's ``LinearLR`` and
    ``CosineAnnealingLR``; drive it with :class:`kexue.train.StepScheduler`."""
    warmup, total = positive_int(warmup, "warmup"), positive_int(total, "total")
    if warmup >= total:
        raise ValueError(f"warmup ({warmup}) must be shorter than total ({total})")
    floor = fraction(floor, "floor")
    sched = torch.optim.lr_scheduler
    eta_min = floor * optimizer.param_groups[0]["lr"]  # read before LinearLR lowers the rate
    if warmup == 1:
        first = sched.LambdaLR(optimizer, lambda t: 1.0)
    else:
        first = sched.LinearLR(optimizer, start_factor=1 / warmup, end_factor=1.0,
                               total_iters=warmup - 1)
    cosine = sched.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=eta_min)
    return sched.SequentialLR(optimizer, [first, cosine], milestones=[warmup])


def _mnist_splits(config: dict, device: torch.device) -> dict:
    """A seeded random ``n_train + n_val`` of the MNIST training images, cut into a training and
    a validation set, and the first ``n_test`` test images."""
    n_train, n_val = config["n_train"], config["n_val"]
    x, y, x_test, y_test = classifier.mnist_subset(n_train + n_val, config["n_test"],
                                                   config["seed"], device)
    return {"train": (x[:n_train], y[:n_train]), "val": (x[n_train:], y[n_train:]),
            "test": (x_test, y_test)}


def build_run(config: dict, *, checkpoint=None, best_path=None, device=None) -> dict:
    """The MNIST run of the chapter, ready to ``trainer.fit(steps=config["steps"])``: a Swish MLP,
    SGD with momentum, a warmup + cosine schedule, and the callbacks

    ``[LearningRateMonitor, StepScheduler, EMA, Evaluate, EarlyStopping(, SaveBest)]``;

    ``Evaluate`` computes validation loss and accuracy and test accuracy, with the trained weights
    and with the EMA's, every ``eval_every`` steps; early stopping follows the validation loss.
    Returns the trainer and its parts by name.
    """
    device = device or runtime.device()
    splits = _mnist_splits(config, device)
    model = classifier.mlp((784, config["hidden"], config["hidden"], 10), activation=Swish,
                           seed=config["seed"]).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    schedule = warmup_cosine(optimizer, warmup=config["warmup"], total=config["steps"],
                             floor=config["lr_floor"])
    ema = train.EMA(model, config["ema_decay"])

    def scores(model) -> dict:
        out = {}
        for prefix, weights in (("", contextlib.nullcontext()), ("ema_", ema.averaged())):
            with weights:
                for split in ("val", "test"):
                    scored = classifier.evaluate(model, *splits[split])
                    out[f"{prefix}{split}_loss"] = scored["loss"]
                    out[f"{prefix}{split}_acc"] = scored["acc"]
        return out

    evaluate = train.Evaluate(scores, every=config["eval_every"])
    mode = "min" if config["monitor"].endswith("loss") else "max"
    stopper = train.EarlyStopping(evaluate, config["monitor"], mode=mode, patience=config["patience"])
    callbacks = [train.LearningRateMonitor(), train.StepScheduler(schedule), ema, evaluate, stopper]
    if best_path is not None:
        callbacks.append(train.SaveBest(evaluate, config["monitor"], mode=mode, path=best_path))
    trainer = train.Trainer(model, optimizer, classifier.classification_loss, splits["train"],
                            batch_size=config["batch_size"], seed=config["seed"],
                            callbacks=callbacks, checkpoint=checkpoint,
                            log_every=config["eval_every"], description="Swish MLP on MNIST")
    return {"trainer": trainer, "model": model, "ema": ema, "evaluate": evaluate,
            "stopper": stopper, "lr": callbacks[0], "splits": splits}


@experiment(
    "mnist-callbacks",
    quick=dict(n_train=3000, n_val=1000, n_test=2000, hidden=128, batch_size=64, steps=900,
               warmup=60, lr=0.1, lr_floor=0.0, ema_decay=0.98, eval_every=30, monitor="val_acc", patience=6,
               seed=0),
    full=dict(n_train=55000, n_val=5000, n_test=10000, hidden=512, batch_size=128, steps=12000,
              warmup=500, lr=0.1, lr_floor=0.0, ema_decay=0.999, eval_every=430, monitor="val_acc", patience=6,
              seed=0),
    metric="test_acc_ema",
    description="A Swish MLP (trainable beta, hand-written backward) trained on MNIST by SGD with "
                "momentum through kexue.train, with a warmup + cosine learning rate, an EMA of the "
                "weights, early stopping on the validation loss (restoring the best weights) and a "
                "best-model checkpoint; test accuracy of the trained, averaged and restored weights.",
    post=5765,
)
def run_mnist_callbacks(config: dict):
    """Train; report test accuracy with the last trained weights, their EMA, and the best weights
    restored by early stopping (which the best-model checkpoint must hold too)."""
    runtime.seed_everything(config["seed"])
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(config, best_path=Path(tmp) / "best.pt")
        trainer, model, ema = run["trainer"], run["model"], run["ema"]
        trainer.fit(steps=config["steps"])
        best_file = torch.load(Path(tmp) / "best.pt", map_location="cpu", weights_only=False)
    x_test, y_test = run["splits"]["test"]
    evaluate, stopper = run["evaluate"], run["stopper"]
    last = evaluate.rows[-1]
    # early stopping put the best weights back
    restored_acc = classifier.evaluate(model, x_test, y_test)["acc"]
    same = all(torch.equal(v.cpu(), best_file["model"][k]) for k, v in model.state_dict().items())
    metrics = {
        "test_acc_last": last["test_acc"], "test_acc_ema": last["ema_test_acc"],
        "test_acc_best": restored_acc,
        "monitor_best": stopper.best, "best_step": stopper.best_step,
        "stopped_step": stopper.stopped_step, "steps_run": trainer.step,
        "best_checkpoint_matches": same,
        "beta": [float(m.beta.detach()) for m in model if isinstance(m, Swish)],
    }
    artifacts = {"rows": evaluate.rows, "lr_steps": run["lr"].steps, "lr": run["lr"].lr,
                 "model": model.cpu(), "config": dict(config), "best_step": stopper.best_step,
                 "stopped_step": stopper.stopped_step, "x_test": x_test[:500].cpu()}
    return metrics, artifacts


def resume_check(config: dict, interrupt_at: int, directory) -> dict:
    """Run ``config`` once straight through, and once interrupted after step ``interrupt_at``
    and resumed from the trainer's checkpoint in a fresh process-like setting (new model, new
    callbacks, another RNG state); return the largest differences between the two ends."""
    positive_int(interrupt_at, "interrupt_at")
    if interrupt_at >= config["steps"]:
        raise ValueError(f"interrupt_at must be before the last step {config['steps']}")
    dev = torch.device("cpu")
    straight = build_run(config, device=dev)
    straight["trainer"].progress = False
    straight["trainer"].fit(steps=config["steps"])
    path = Path(directory) / "mnist-callbacks.pt"
    path.unlink(missing_ok=True)
    first = build_run(config, checkpoint=path, device=dev)
    first["trainer"].callbacks.append(train.InterruptAt(interrupt_at))  # last, after the others
    first["trainer"].progress = False
    with contextlib.suppress(KeyboardInterrupt):
        first["trainer"].fit(steps=config["steps"])
    checkpoint_step = torch.load(path, weights_only=False)["step"]
    torch.manual_seed(12345)  # another RNG state and other weights: the checkpoint must restore both
    resumed = build_run(config, checkpoint=path, device=dev)
    with torch.no_grad():
        for p in resumed["model"].parameters():
            p.normal_()
    resumed["trainer"].progress = False
    resumed["trainer"].fit(steps=config["steps"])

    def max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
        return max(float((x - y).abs().max()) for x, y in zip(a, b))

    return {
        "checkpoint_step": checkpoint_step,
        "weights": max_diff(list(straight["model"].state_dict().values()),
                            list(resumed["model"].state_dict().values())),
        "ema": max_diff(straight["ema"].average, resumed["ema"].average),
        "evaluations_equal": straight["evaluate"].rows == resumed["evaluate"].rows,
        "lr_equal": straight["lr"].lrs == resumed["lr"].lrs,
        "stopped_step": (straight["stopper"].stopped_step, resumed["stopper"].stopped_step),
        "steps": (straight["trainer"].step, resumed["trainer"].step),
    }


def ema_advantage(artifacts: dict, start_weight: float = 0.01) -> list[dict]:
    """The mean of (EMA - trained weights) in validation accuracy and loss over three phases of a
    recorded run: while the average still gives its starting point ``theta_0`` a weight
    ``decay^t > start_weight``; then while the learning rate is above half its peak; then below."""
    start_weight = positive(start_weight, "start_weight")
    decay, peak = artifacts["config"]["ema_decay"], max(artifacts["lr"])
    lr_at = dict(zip(artifacts["lr_steps"], artifacts["lr"]))
    phases = {f"start (weight of theta_0 above {start_weight:g})": [],
              "learning rate above half its peak": [], "learning rate below half its peak": []}
    names = list(phases)
    for row in artifacts["rows"]:
        phase = (0 if decay ** row["step"] > start_weight else
                 1 if lr_at[row["step"]] > peak / 2 else 2)
        phases[names[phase]].append(row)
    out = []
    for name, rows in phases.items():
        if rows:
            out.append({"phase": name, "evaluations": len(rows),
                        "steps": (rows[0]["step"], rows[-1]["step"]),
                        "acc": sum(r["ema_val_acc"] - r["val_acc"] for r in rows) / len(rows),
                        "loss": sum(r["ema_val_loss"] - r["val_loss"] for r in rows) / len(rows)})
    return out


# -- replaying the callbacks on a run that learns nothing ---------------------------------------
def _idle_trainer(callbacks: list, lr: float = 1.0) -> train.Trainer:
    """A :class:`kexue.train.Trainer` whose one weight never moves (its gradient is 0), to drive
    callbacks step by step on their own."""
    model = nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return train.Trainer(model, optimizer, lambda m, x: (m(x) * 0.0).sum(), torch.zeros(1, 1),
                         batch_size=1, callbacks=callbacks, progress=False)


def record_schedule(make_scheduler, steps: int, lr: float = 1.0) -> list[float]:
    """The learning rate of each of ``steps`` optimiser steps when ``make_scheduler(optimizer)``
    is driven by :class:`kexue.train.StepScheduler` (recorded by a
    :class:`kexue.train.LearningRateMonitor`)."""
    steps = positive_int(steps, "steps")
    monitor = train.LearningRateMonitor()
    trainer = _idle_trainer([monitor], positive(lr, "lr"))
    trainer.callbacks.append(train.StepScheduler(make_scheduler(trainer.optimizer)))
    trainer.fit(steps=steps)
    return monitor.lr


def replay_early_stopping(values, *, patience: int, mode: str = "min",
                          min_delta: float = 0.0) -> dict:
    """Feed a recorded sequence of metric values, one per evaluation, to a real
    :class:`kexue.train.EarlyStopping`; return the index of the evaluation at which it stops (None if
    it never does) and the index of the best one."""
    values = values.tolist() if isinstance(values, torch.Tensor) else list(values)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise TypeError("values must be numbers (nan is allowed: it never improves)")
    if not values:
        raise ValueError("values must be a non-empty sequence of numbers")
    feed = iter(values)
    stopper = train.EarlyStopping(lambda model: next(feed), patience=patience, mode=mode,
                                  min_delta=min_delta, every=1, restore_best=False)
    _idle_trainer([stopper]).fit(steps=len(values))
    return {"stop": None if stopper.stopped_step is None else stopper.stopped_step - 1,
            "best": None if stopper.best_step is None else stopper.best_step - 1}


# -- figures -----------------------------------------------------------------------------------
def _mark_stops(ax, best_step, stopped_step) -> None:
    if best_step is not None:
        ax.axvline(best_step, color="C2", ls="--", lw=1, label=f"best (step {best_step})")
    if stopped_step is not None:
        ax.axvline(stopped_step, color="C3", ls=":", lw=1.5, label=f"stopped (step {stopped_step})")


def plot_run(artifacts: dict, fig) -> None:
    """Three panels of the MNIST run: the learning rate each step used; the validation loss and
    accuracy with the trained weights and with their EMA; where early stopping found its best and
    where it stopped."""
    rows, config = artifacts["rows"], artifacts["config"]
    steps = [r["step"] for r in rows]
    ax1, ax2, ax3 = (fig.add_subplot(1, 3, i) for i in (1, 2, 3))
    ax1.plot(artifacts["lr_steps"], artifacts["lr"], color="C0", label="recorded")
    ax1.set(xlabel="step", ylabel="learning rate",
            title=f"learning rate: warmup {config['warmup']} steps, then cosine")
    for ax, key, title in ((ax2, "val_loss", "validation loss"), (ax3, "val_acc", "validation accuracy")):
        ax.plot(steps, [r[key] for r in rows], color="C0", label="trained weights")
        ax.plot(steps, [r["ema_" + key] for r in rows], color="C1",
                label=f"EMA, decay {config['ema_decay']}")
        ax.set(xlabel="step", ylabel=key.replace("_", " "), title=title)
    ax2.set_ylim(min(min(r["val_loss"], r["ema_val_loss"]) for r in rows) * 0.9,
                 2.5 * min(r["val_loss"] for r in rows))
    ax3.set_ylim(max(r["val_acc"] for r in rows) - 0.08, max(r["val_acc"] for r in rows) + 0.01)
    for ax in (ax1, ax2, ax3):
        _mark_stops(ax, artifacts["best_step"], artifacts["stopped_step"])
        ax.set_xlim(0, config["steps"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()


def plot_activations(model: nn.Module, x: torch.Tensor, fig) -> dict:
    """Histograms of what each :class:`Swish` of ``model`` outputs on ``x`` (read with an
    :class:`ActivationRecorder`), with the lowest value Swish can take, ``-W(1/e)/beta``.
    Returns each layer's smallest recorded output and that bound."""
    names = [n for n, m in model.named_modules() if isinstance(m, Swish)]
    if not names:
        raise ValueError("the model has no Swish layers")
    betas = {n: float(m.beta.detach()) for n, m in model.named_modules() if n in names}
    with ActivationRecorder(model, names) as rec, torch.no_grad():
        model(x)
    out = {}
    for i, name in enumerate(names):
        a = rec.activations[name].flatten()
        bound = swish_minimum(betas[name])[1]
        ax = fig.add_subplot(1, len(names), i + 1)
        ax.hist(a.numpy(), bins=80, color="C0", log=True)
        ax.axvline(bound, color="C3", ls="--", label=f"$-W(1/e)/\\beta$ = {bound:.3f}")
        ax.set(xlabel="output", ylabel="count", title=f"Swish layer '{name}', $\\beta$ = {betas[name]:.2f}")
        ax.legend(fontsize=8)
        out[name] = {"min": float(a.min()), "bound": bound}
    fig.tight_layout()
    return out


def explore_patience(artifacts: dict, patiences=range(1, 13)):
    """A slider over the patience: where early stopping on the validation loss (left) or accuracy
    (right) of the recorded run would have stopped, which evaluation it would have restored, and
    that evaluation's test accuracy."""
    from . import widgets

    rows = artifacts["rows"]
    steps = [r["step"] for r in rows]
    patiences = [positive_int(p, "patience") for p in patiences]
    replays = {(key, p): replay_early_stopping([r[key] for r in rows], patience=p,
                                               mode="min" if key == "val_loss" else "max")
               for key in ("val_loss", "val_acc") for p in patiences}

    values = {key: [r[key] for r in rows] for key in ("val_loss", "val_acc")}
    ylims = {"val_loss": (0.9 * min(values["val_loss"]), 2.5 * min(values["val_loss"])),
             "val_acc": (max(values["val_acc"]) - 0.08, max(values["val_acc"]) + 0.01)}

    def draw(fig, patience):
        patience = int(round(patience))
        for i, key in enumerate(("val_loss", "val_acc")):
            ax = fig.add_subplot(1, 2, i + 1)
            ax.plot(steps, values[key], color="C0", marker=".", ms=3)
            replay = replays[key, patience]
            best, stop = steps[replay["best"]], None if replay["stop"] is None else steps[replay["stop"]]
            _mark_stops(ax, best, stop)
            ended = "" if stop is not None else ", no stop before the run's end"
            ax.set(xlabel="step", ylabel=key.replace("_", " "), ylim=ylims[key],
                   title=f"follow {key.replace('_', ' ')}: best's test acc "
                         f"{rows[replay['best']]['test_acc']:.4f}{ended}")
            ax.title.set_fontsize(9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower left" if key == "val_loss" else "lower right")
        fig.tight_layout()

    return widgets.SliderFigure(draw, [widgets.Slider("patience", values=patiences, value=6,
                                                      description="patience (evaluations)")],
                                figsize=(9, 3.2))
