"""Heun's method as an optimiser (Su Jianlin, https://spaces.ac.cn/archives/5879, section on
"intrusive" optimisers).

Gradient descent ``p <- p - lr g(p)`` is Euler's method for the gradient flow ``dp/dt = -g(p)``,
``g = grad L``. Heun's method (improved Euler, a predictor-corrector) takes an Euler step to a trial
point and then averages the slopes at both ends:

    p~ = p - lr g(p),         p <- p - (lr / 2) (g(p) + g(p~)).

Its one-step error against the exact flow is O(lr^3) (Euler's: O(lr^2)), so over a fixed time
O(lr^2) (Euler's: O(lr)). It needs two gradients per step, at two different points, so its
``step`` takes a closure that recomputes loss and gradients, like ``torch.optim.LBFGS``.

On a quadratic ``L = p^T A p / 2`` a step multiplies the component along an eigenvector of
curvature ``lam`` by ``R(-lr lam)``, with ``R(z) = 1 + z`` for Euler and ``1 + z + z^2 / 2`` for
Heun. Both are stable for ``lr lam < 2``; Heun's factor is never below 1/2, and two Euler steps
(the same two gradients) contract every component at least as much: ``(1 - x)^2 <= 1 - x + x^2/2``
for ``0 <= x <= 2``.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .. import runtime, train
from ..checks import float_tensor, positive, positive_int
from ..classifier import classification_loss, evaluate, mlp, mnist_subset
from ..experiments import Reference, experiment
from .dynamics import loglog_slope


class Heun(torch.optim.Optimizer):
    """Heun's method on the gradient flow: ``p~ = p - lr g(p)``, ``p <- p - lr (g(p) + g(p~)) / 2``.

    ``step(closure)`` needs ``closure()`` to compute the loss at the current parameters, call
    ``backward()`` and return the loss; it is called twice per step (gradients are zeroed before
    each call), and ``step`` returns the loss at the starting point.
    """

    def __init__(self, params, lr: float = 1e-3):
        super().__init__(params, dict(lr=positive(lr, "lr")))

    def _gradients(self, closure):
        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = closure()
        grads = [[torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                  for p in group["params"]] for group in self.param_groups]
        return loss, grads

    @torch.no_grad()
    def step(self, closure=None):
        if closure is None:
            raise ValueError("Heun needs the gradient at two points per step: call step(closure) "
                             "with a closure that computes the loss, calls backward() and returns it")
        loss, g0 = self._gradients(closure)
        starts = [[p.detach().clone() for p in group["params"]] for group in self.param_groups]
        for group, grads in zip(self.param_groups, g0):
            for p, g in zip(group["params"], grads):
                p.add_(g, alpha=-group["lr"])                      # predictor: an Euler step
        _, g1 = self._gradients(closure)
        for group, start, grads0, grads1 in zip(self.param_groups, starts, g0, g1):
            for p, p0, a, b in zip(group["params"], start, grads0, grads1):
                p.copy_(p0).add_(a + b, alpha=-group["lr"] / 2)   # corrector: the mean slope
        return loss


# -- paths on 2-D surfaces, written out in NumPy (the figures, and a check on the optimisers) ----
def _path(gradient, start, lr: float, steps: int, heun: bool) -> np.ndarray:
    lr, steps = positive(lr, "lr"), positive_int(steps, "steps")
    p = np.asarray(start, dtype=np.float64)
    if p.shape != (2,) or not np.all(np.isfinite(p)):
        raise ValueError(f"start must be a finite point (x, y), got {start!r}")
    g = lambda q: np.array(gradient(q[0], q[1]), dtype=np.float64)  # noqa: E731
    path = [p]
    for _ in range(steps):
        g0 = g(p)
        p = p - lr * g0 if not heun else p - lr / 2 * (g0 + g(p - lr * g0))
        path.append(p)
        if not np.all(np.isfinite(p)):
            break
    return np.array(path)


def euler_path(gradient, start, lr: float, steps: int) -> np.ndarray:
    """Points of gradient descent ``p <- p - lr g(p)`` from ``start`` (``steps + 1`` rows, fewer if
    it overflows); ``gradient(x, y) -> (gx, gy)``, e.g. a :mod:`kexue.optim.surfaces` gradient."""
    return _path(gradient, start, lr, steps, heun=False)


def heun_path(gradient, start, lr: float, steps: int) -> np.ndarray:
    """Points of Heun's method ``p <- p - lr (g(p) + g(p - lr g(p))) / 2`` from ``start``."""
    return _path(gradient, start, lr, steps, heun=True)


def amplification(method: str, z):
    """The factor ``R(z)`` by which one step multiplies an eigen-component of a quadratic,
    ``z = -lr * curvature``: ``1 + z`` (``"euler"``), ``1 + z + z^2 / 2`` (``"heun"``), and
    ``(1 + z)^2`` (``"euler-twice"``: two Euler steps, the same two gradient evaluations as Heun)."""
    forms = {"euler": lambda z: 1 + z, "heun": lambda z: 1 + z + z * z / 2,
             "euler-twice": lambda z: (1 + z) ** 2}
    if method not in forms:
        raise ValueError(f"method must be one of {sorted(forms)}, got {method!r}")
    return forms[method](np.asarray(z, dtype=np.float64))


# -- orders of accuracy on a quadratic, against the exact flow -----------------------------------
def _quadratic(A) -> torch.Tensor:
    A = float_tensor(A, "A", ndim=2, numpy_ok=True).to(torch.float64)
    if A.shape[0] != A.shape[1] or not torch.allclose(A, A.T):
        raise ValueError(f"A must be a symmetric square matrix, got shape {tuple(A.shape)}")
    return A


def quadratic_flow(A, x0, t: float) -> np.ndarray:
    """The exact gradient flow of ``L = x^T A x / 2`` at time ``t``: ``expm(-A t) x0``."""
    import scipy.linalg

    A = _quadratic(A).numpy()
    return scipy.linalg.expm(-A * t) @ np.asarray(x0, dtype=np.float64)


def integrate_quadratic(A, x0, lr: float, steps: int, method: str) -> np.ndarray:
    """Run a torch optimiser (``"euler"``: ``torch.optim.SGD``; ``"heun"``: :class:`Heun`) for
    ``steps`` steps on ``L = x^T A x / 2`` from ``x0``, in float64, with autograd gradients."""
    A = _quadratic(A)
    x = torch.tensor(np.asarray(x0, dtype=np.float64)).requires_grad_()
    if x.shape != (A.shape[0],):
        raise ValueError(f"x0 must have {A.shape[0]} entries, got shape {tuple(x.shape)}")
    if method not in ("euler", "heun"):
        raise ValueError(f"method must be 'euler' or 'heun', got {method!r}")
    lr = positive(lr, "lr")
    opt = torch.optim.SGD([x], lr=lr) if method == "euler" else Heun([x], lr=lr)

    def closure():
        opt.zero_grad()
        loss = 0.5 * x @ A @ x
        loss.backward()
        return loss

    for _ in range(positive_int(steps, "steps")):
        opt.step(closure)
    return x.detach().numpy()


def local_errors(A, x0, lrs, method: str) -> np.ndarray:
    """``|x_1 - expm(-A lr) x0|`` after one step, for each step size in ``lrs``."""
    return np.array([np.linalg.norm(integrate_quadratic(A, x0, lr, 1, method)
                                    - quadratic_flow(A, x0, lr)) for lr in lrs])


def global_errors(A, x0, T: float, step_counts, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(lrs, errors)``: ``|x_N - expm(-A T) x0|`` after ``N`` steps of size ``T / N``, for each
    ``N`` in ``step_counts``."""
    T = positive(T, "T")
    exact = quadratic_flow(A, x0, T)
    lrs = np.array([T / positive_int(n, "step count") for n in step_counts])
    errors = np.array([np.linalg.norm(integrate_quadratic(A, x0, T / n, n, method) - exact)
                       for n in step_counts])
    return lrs, errors


def plot_orders(A, x0, fig, T: float = 1.0) -> dict:
    """Left: one-step errors against the step size; right: errors at time ``T``; Euler and Heun,
    with their fitted slopes. Returns the slopes."""
    lrs = np.logspace(-3, -1, 7)
    counts = [10, 20, 40, 80, 160]
    slopes = {}
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for method, colour in (("euler", "C3"), ("heun", "C0")):
        local = local_errors(A, x0, lrs, method)
        glrs, glob = global_errors(A, x0, T, counts, method)
        slopes[method] = {"local": loglog_slope(lrs, local), "global": loglog_slope(glrs, glob)}
        ax1.loglog(lrs, local, "o-", color=colour,
                   label=f"{method}: slope {slopes[method]['local']:.2f}")
        ax2.loglog(glrs, glob, "o-", color=colour,
                   label=f"{method}: slope {slopes[method]['global']:.2f}")
    ax1.set(xlabel="step size $\\eta$", ylabel="$|x_1 - x(\\eta)|$", title="error of one step")
    ax2.set(xlabel="step size $\\eta = T/N$", ylabel=f"$|x_N - x({T:g})|$",
            title=f"error at time T = {T:g}")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    return slopes


def plot_amplification(fig) -> None:
    """Per two gradient evaluations, the factor on an eigen-component of curvature ``lam``:
    two gradient-descent steps vs one Heun step, both at step size ``lr``, against ``lr lam``."""
    x = np.linspace(0, 2.2, 221)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x, np.abs(amplification("euler-twice", -x)), color="C3",
            label="two gradient-descent steps: $(1-\\eta\\lambda)^2$")
    ax.plot(x, np.abs(amplification("heun", -x)), color="C0",
            label="one Heun step: $1-\\eta\\lambda+(\\eta\\lambda)^2/2$")
    ax.axhline(1, color="gray", lw=0.8)
    ax.axhline(0.5, color="C0", lw=0.8, ls=":")
    ax.set(xlabel="$\\eta\\lambda$ (step size × curvature)", ylabel="|factor| per 2 gradients",
           ylim=(0, 1.5), title="contraction of one eigen-component of a quadratic")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()


# -- explore: Euler and Heun on the ill-conditioned quadratic ------------------------------------
def draw_paths(fig, lr: float, evaluations: int = 40, surface=None, background=None) -> None:
    """Gradient descent and Heun from the surface's start with the same number of gradient
    evaluations (Heun takes half as many steps), on the contours, beside the exact flow; right:
    the loss against gradient evaluations. ``background`` is :func:`path_background`'s output
    (computed here when not given; a slider computes it once)."""
    from matplotlib import ticker

    from . import surfaces

    surface = surface or surfaces.get("quadratic")
    X, Y, L, flow = background or path_background(surface)
    gd = euler_path(surface.gradient, surface.start, lr, evaluations)
    hn = heun_path(surface.gradient, surface.start, lr, evaluations // 2)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax1.contour(X, Y, L, levels=np.geomspace(0.05, L.max(), 14), colors="0.75", linewidths=0.7)
    ax1.plot(flow[:, 0], flow[:, 1], color="k", lw=1, ls="--", label="gradient flow")
    ax1.plot(gd[:, 0], gd[:, 1], ".-", color="C3", lw=1, ms=4,
             label=f"gradient descent ({len(gd) - 1} steps)")
    ax1.plot(hn[:, 0], hn[:, 1], "o-", color="C0", lw=1.2, ms=4, label=f"Heun ({len(hn) - 1} steps)")
    ax1.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="x", ylabel="y",
            title=f"{surface.title}, η = {lr:.3f}")
    ax1.legend(fontsize=8, loc="lower right")
    with np.errstate(over="ignore", invalid="ignore"):
        ax2.plot(np.arange(len(gd)), surface.value(gd[:, 0], gd[:, 1]), ".-", color="C3",
                 label="gradient descent")
        ax2.plot(2 * np.arange(len(hn)), surface.value(hn[:, 0], hn[:, 1]), "o-", color="C0",
                 label="Heun")
    ax2.set(yscale="log", xlabel="gradient evaluations", ylabel="loss",
            title="loss per gradient evaluation", xlim=(0, evaluations), ylim=(1e-4, 1e3))
    # plain tick labels, no minor ticks: mathtext labels would dominate the time of a frame
    ax2.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax2.yaxis.set_minor_locator(ticker.NullLocator())
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.91, wspace=0.25)  # fast: no tight_layout


def path_background(surface, n: int = 100, t_end: float = 20.0):
    """``(X, Y, L, flow)``: a contour grid of ``surface`` and its gradient flow from the start up to
    time ``t_end`` (scipy's ``solve_ivp``, tight tolerances)."""
    from scipy.integrate import solve_ivp

    X, Y, L = surface.grid(n)
    sol = solve_ivp(lambda t, p: -np.array(surface.gradient(p[0], p[1])), (0.0, t_end),
                    np.array(surface.start, dtype=np.float64), t_eval=np.linspace(0, t_end, 400),
                    rtol=1e-8, atol=1e-10)
    return X, Y, L, sol.y.T


def explore_step_size(evaluations: int = 40):
    """A slider over the step size: gradient descent and Heun on the ill-conditioned quadratic
    (curvatures 1 and 20, so both are stable for step sizes below 2/20 = 0.1)."""
    from .. import widgets
    from . import surfaces

    surface = surfaces.get("quadratic")
    background = path_background(surface)
    lrs = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.095, 0.1, 0.105]
    return widgets.SliderFigure(
        lambda fig, lr: draw_paths(fig, lr, evaluations, surface, background),
        [widgets.Slider("lr", values=lrs, value=0.07, description="step size η")],
        figsize=(10, 3.8))


# -- does it help? Heun against SGD on MNIST at equal gradient evaluations -------------------------
class Evaluate(train.Callback):
    """Every ``every`` optimiser steps (and at the start), the loss and accuracy on the whole
    training set and on the test set, with the number of gradient evaluations spent so far
    (``evals_per_step`` per step)."""

    def __init__(self, train_data, test_data, every: int, evals_per_step: int):
        self.train_data, self.test_data = train_data, test_data
        self.every, self.evals_per_step = positive_int(every, "every"), evals_per_step
        self.rows: list[dict] = []

    def _record(self, trainer) -> None:
        tr, te = evaluate(trainer.model, *self.train_data), evaluate(trainer.model, *self.test_data)
        self.rows.append({"step": trainer.step, "evals": trainer.step * self.evals_per_step,
                          "train_loss": tr["loss"], "train_acc": tr["acc"],
                          "test_loss": te["loss"], "test_acc": te["acc"]})

    def on_train_begin(self, trainer):
        if trainer.step == 0 and not self.rows:
            self._record(trainer)

    def on_step_end(self, trainer, logs):
        if trainer.step % self.every == 0:
            self._record(trainer)

    def state_dict(self):
        return {"rows": list(self.rows)}

    def load_state_dict(self, state):
        self.rows = list(state["rows"])


def compare_with_sgd(train_data, test_data, *, lrs, evaluations: int, batch: int, hidden: int,
                     eval_every: int, seed: int) -> tuple[dict, dict]:
    """For each step size: SGD for ``evaluations`` steps and Heun for ``evaluations / 2`` steps
    (each costs ``evaluations`` gradients), same start, same batch order; the loss on the whole
    training set, test accuracy and wall time. Heun's two gradients in a step use the same batch.
    Returns ``(metrics, artifacts)``: a row per run and the curves."""
    evaluations = positive_int(evaluations, "evaluations")
    if evaluations % 2 or eval_every % 2 or evaluations % eval_every:
        raise ValueError("evaluations and eval_every must be even, and evaluations a multiple "
                         "of eval_every")
    runs, curves = [], {}
    for lr in lrs:
        lr = positive(lr, "lr")
        for method in ("sgd", "heun"):
            model = mlp((784, hidden, hidden, 10), seed=seed).to(train_data[0].device)
            per_step = 1 if method == "sgd" else 2
            probe = Evaluate(train_data, test_data, eval_every // per_step, per_step)
            if method == "sgd":
                trainer = train.Trainer(model, torch.optim.SGD(model.parameters(), lr=lr),
                                        classification_loss, train_data, batch_size=batch,
                                        seed=seed, callbacks=[probe], description=f"SGD lr={lr}")
            else:
                trainer = train.Trainer(model, Heun(model.parameters(), lr=lr), classification_loss,
                                         train_data, batch_size=batch, seed=seed, callbacks=[probe],
                                         description=f"Heun lr={lr}")
            start = time.perf_counter()
            trainer.fit(steps=evaluations // per_step)
            seconds = time.perf_counter() - start
            end = probe.rows[-1]
            diverged = not np.isfinite(end["train_loss"])
            runs.append({"method": method, "lr": lr, "steps": trainer.step,
                         "evaluations": trainer.step * per_step, "seconds": round(seconds, 3),
                         "train_loss": end["train_loss"] if not diverged else "diverged",
                         "test_acc": end["test_acc"], "diverged": diverged})
            curves[(method, lr)] = probe.rows
    best = {m: min((r for r in runs if r["method"] == m and not r["diverged"]),
                   key=lambda r: r["train_loss"]) for m in ("sgd", "heun")}
    metrics = {"runs": runs,
               "best_sgd": {k: best["sgd"][k] for k in ("lr", "train_loss", "test_acc")},
               "best_heun": {k: best["heun"][k] for k in ("lr", "train_loss", "test_acc")},
               "test_acc_gap": best["heun"]["test_acc"] - best["sgd"]["test_acc"]}
    return metrics, {"curves": curves}


@experiment(
    "heun-vs-sgd-mnist",
    quick=dict(n_train=2000, n_test=2000, hidden=32, batch=32, evaluations=300, eval_every=60,
               lrs=[0.2, 0.4, 0.8, 1.6], seed=0),
    full=dict(n_train=60000, n_test=10000, hidden=256, batch=100, evaluations=6000, eval_every=300,
              lrs=[0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6], seed=0),
    metric="test_acc_gap",
    description="An MLP on MNIST trained by SGD and by the Heun optimiser at several step sizes, "
                "with the same number of gradient evaluations (a Heun step costs two); the gap "
                "is the best Heun run's test accuracy minus the best SGD run's (best by training "
                "loss).",
    post=5879,
    reference=Reference(value="works poorly (no numbers given)", metric="Heun/RK optimisers in training",
                        where="post 5879, note after the Heun optimiser (侵入式优化器)"),
)
def run_heun_vs_sgd(config: dict):
    runtime.seed_everything(config["seed"])
    x, y, xt, yt = mnist_subset(config["n_train"], config["n_test"], config["seed"], runtime.device())
    return compare_with_sgd((x, y), (xt, yt), lrs=config["lrs"], evaluations=config["evaluations"],
                            batch=config["batch"], hidden=config["hidden"],
                            eval_every=config["eval_every"], seed=config["seed"])


def plot_mnist_runs(metrics: dict, curves: dict, fig) -> None:
    """Left: final training loss against the step size, SGD and Heun; right: the training loss of
    each method's best run against gradient evaluations."""
    from matplotlib import ticker

    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for method, colour, label in (("sgd", "C3", "SGD"), ("heun", "C0", "Heun")):
        rows = [r for r in metrics["runs"] if r["method"] == method and not r["diverged"]]
        ax1.loglog([r["lr"] for r in rows], [r["train_loss"] for r in rows], "o-", color=colour,
                   label=label)
        best = metrics[f"best_{method}"]
        curve = curves[(method, best["lr"])]
        ax2.semilogy([r["evals"] for r in curve], [r["train_loss"] for r in curve], "o-",
                     color=colour, label=f"{label}, $\\eta$ = {best['lr']:g}")
    lrs = sorted({r["lr"] for r in metrics["runs"]})
    ax1.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
    ax1.xaxis.set_minor_locator(ticker.NullLocator())
    ax1.set(xlabel="step size $\\eta$", ylabel="final training loss",
            title="same number of gradient evaluations")
    ax2.set(xlabel="gradient evaluations", ylabel="training loss (whole set)",
            title="best step size of each")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()


def comparison_rows(metrics: dict) -> tuple[list[str], list[list]]:
    """``(header, rows)`` for a table of an experiment record's runs: one row per step size,
    SGD's and Heun's training loss, test accuracy and seconds side by side."""
    runs = {(r["method"], r["lr"]): r for r in metrics["runs"]}
    header = ["η", "SGD steps", "SGD train loss", "SGD test acc", "SGD s",
              "Heun steps", "Heun train loss", "Heun test acc", "Heun s"]
    rows = []
    for lr in sorted({r["lr"] for r in metrics["runs"]}):
        row = [f"{lr:g}"]
        for method in ("sgd", "heun"):
            r = runs[(method, lr)]
            loss = r["train_loss"] if isinstance(r["train_loss"], str) else f"{r['train_loss']:.4f}"
            row += [r["steps"], loss, f"{r['test_acc']:.2%}", f"{r['seconds']:.1f}"]
        rows.append(row)
    return header, rows


def train_losses(metrics: dict) -> dict:
    """``{(method, lr): final training loss}`` from a record's runs, ``inf`` for a diverged run."""
    return {(r["method"], r["lr"]): float("inf") if r["diverged"] else r["train_loss"]
            for r in metrics["runs"]}
