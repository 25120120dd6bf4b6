"""A small NVAE (Vahdat & Kautz, 2020): a deep hierarchical VAE on dynamically binarised MNIST.

The latent is split into groups z_1..z_L, at two resolutions (7x7 and 14x14), and both the prior
and the posterior are autoregressive over the groups:

    p(z) = prod_l p(z_l | z_<l),    q(z|x) = prod_l q(z_l | z_<l, x),

each factor a diagonal Gaussian computed by one top-down network that the generative model and the
encoder share. The posterior is *residual*: relative to the prior,

    p(z_l | z_<l) = N(mu, sigma^2),    q(z_l | z_<l, x) = N(mu + dmu, sigma^2 * dsigma^2),

so KL(q || p) = 1/2 sum_i (dmu_i^2 / sigma_i^2 + dsigma_i^2 - log dsigma_i^2 - 1)
(:func:`residual_normal_kl`). Also from the paper: residual cells with squeeze-and-excitation
(:class:`EncoderCell`; :class:`GenerativeCell` with a depthwise convolution), swish activations,
soft-clamped Gaussian parameters, KL warm-up (:func:`kl_warmup`), spectral regularisation (the sum
of every convolution's largest singular value by power iteration, :func:`spectral_norm`), batch
norm statistics re-estimated before sampling (:func:`readjust_batch_norm`), and a Bernoulli decoder.
The test log-likelihood is estimated by importance sampling (:mod:`kexue.vae.likelihood`).
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .. import data, runtime
from ..checks import float_tensor, fraction, non_negative, positive, positive_int, real_number
from ..experiments import Reference, experiment
from ..train import Callback, TimeBudget, Trainer
from ..classifier import mlp
from .gaussian import kl_to_standard, sample
from .likelihood import importance_log_likelihood
from .networks import GaussianEncoder

__all__ = ["binarise", "residual_normal_kl", "soft_clamp", "SqueezeExcitation", "EncoderCell",
           "GenerativeCell", "NVAE", "spectral_norm", "kl_warmup", "NVAELoss", "Schedule",
           "readjust_batch_norm", "MLPVAE", "mlp_vae_loss", "run_nvae", "nll_rows", "NLL_HEADER",
           "plot_training", "draw_samples", "plot_temperatures"]

SIDE = 28


# -- the pieces -----------------------------------------------------------------------------------
def binarise(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarisation: each pixel intensity p in [0, 1] becomes a Bernoulli(p) draw, afresh
    every time (so the model never sees the same binary image twice)."""
    x = float_tensor(x, "x", nonempty=True)
    if bool((x < 0).any()) or bool((x > 1).any()):
        raise ValueError("x must hold intensities in [0, 1] to be binarised")
    return torch.bernoulli(x, generator=generator)


def residual_normal_kl(delta_mean: torch.Tensor, delta_log_scale: torch.Tensor,
                       prior_log_scale: torch.Tensor) -> torch.Tensor:
    """KL(N(mu + dmu, (sigma dsigma)^2) || N(mu, sigma^2)) per sample, summed over all but the
    first dimension: 1/2 sum (dmu^2 / sigma^2 + dsigma^2 - log dsigma^2 - 1). It does not depend on
    the prior's mean mu. Arguments: dmu, log dsigma, log sigma (same shapes)."""
    names = ("delta_mean", "delta_log_scale", "prior_log_scale")
    args = [float_tensor(t, n, nonempty=True) for t, n in zip(
        (delta_mean, delta_log_scale, prior_log_scale), names)]
    if len({tuple(t.shape) for t in args}) != 1 or args[0].ndim < 2:
        raise ValueError(f"{', '.join(names)} must share one shape (batch, ...), got "
                         f"{[tuple(t.shape) for t in args]}")
    return _residual_kl(*args)


def _residual_kl(dmu, dlog, log_sigma):
    """The unchecked kernel of :func:`residual_normal_kl`."""
    kl = 0.5 * (dmu.square() * torch.exp(-2 * log_sigma) + torch.exp(2 * dlog) - 2 * dlog - 1)
    return kl.flatten(1).sum(1)


def _log_normal(z, mean, log_scale):
    """log N(z; mean, exp(log_scale)^2), summed over all but the first dimension."""
    return (-0.5 * ((z - mean) * torch.exp(-log_scale)).square() - log_scale
            - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)


def soft_clamp(x: torch.Tensor, limit: float = 5.0) -> torch.Tensor:
    """limit * tanh(x / limit): close to x for |x| << limit, never beyond +-limit. NVAE applies it
    to the Gaussians' means and log-scales so that no step can make them explode."""
    limit = positive(limit, "limit")
    return limit * torch.tanh(x / limit)


def _swish(x):
    return x * torch.sigmoid(x)


class SqueezeExcitation(nn.Module):
    """Rescale each channel by a gate in (0, 1) computed from the channels' spatial means:
    x * sigmoid(W2 relu(W1 mean_hw(x)))."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        channels = positive_int(channels, "channels")
        hidden = max(channels // positive_int(reduction, "reduction"), 4)
        self.fc1, self.fc2 = nn.Linear(channels, hidden), nn.Linear(hidden, channels)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None]


class _Residual(nn.Module):
    """y = skip(x) + scale * branch(x); NVAE scales the branch by 0.1 so a fresh deep stack stays
    close to its skip path."""

    scale = 0.1

    def forward(self, x):
        return self.skip(x) + self.scale * self.branch(x)


class EncoderCell(_Residual):
    """NVAE's encoder residual cell: BN - swish - conv3x3 - BN - swish - conv3x3 - SE. With
    ``downsample`` the first convolution has stride 2 and the skip path is a strided 1x1 conv
    to ``out_channels``; otherwise the skip path is the identity."""

    def __init__(self, channels: int, out_channels: int | None = None, *, downsample: bool = False):
        super().__init__()
        c_in = positive_int(channels, "channels")
        c_out = positive_int(out_channels or c_in, "out_channels")
        if not downsample and c_out != c_in:
            raise ValueError("a cell that keeps the resolution keeps the channels (identity skip)")
        stride = 2 if downsample else 1
        self.skip = nn.Conv2d(c_in, c_out, 1, stride=2) if downsample else nn.Identity()
        self.branch = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
            nn.BatchNorm2d(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1),
            SqueezeExcitation(c_out))


class GenerativeCell(_Residual):
    """NVAE's generative residual cell: BN - conv1x1 (expand E times) - BN - swish - depthwise
    conv5x5 - BN - swish - conv1x1 - BN - SE; the depthwise convolution widens the receptive field
    at a cost linear in the channels. The skip path is the identity."""

    def __init__(self, channels: int, *, expansion: int = 3, kernel: int = 5):
        super().__init__()
        c = positive_int(channels, "channels")
        e = c * positive_int(expansion, "expansion")
        kernel = positive_int(kernel, "kernel")
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd to keep the resolution, got {kernel}")
        self.skip = nn.Identity()
        self.branch = nn.Sequential(
            nn.BatchNorm2d(c), nn.Conv2d(c, e, 1), nn.BatchNorm2d(e), nn.SiLU(),
            nn.Conv2d(e, e, kernel, padding=kernel // 2, groups=e), nn.BatchNorm2d(e), nn.SiLU(),
            nn.Conv2d(e, c, 1), nn.BatchNorm2d(c), SqueezeExcitation(c))


class _Sampler(nn.Sequential):
    """ELU then conv3x3 to 2 * latent channels: a Gaussian's (mean, log-scale), soft-clamped."""

    def __init__(self, c_in: int, latent: int):
        super().__init__(nn.ELU(), nn.Conv2d(c_in, 2 * latent, 3, padding=1))

    def forward(self, h):
        mean, log_scale = super().forward(h).chunk(2, dim=1)
        return soft_clamp(mean), soft_clamp(log_scale)


# -- the model ------------------------------------------------------------------------------------
class NVAE(nn.Module):
    """A two-scale NVAE for 28 x 28 binary images.

    Bottom-up (encoder): stem conv at 28 x 28 -> a cell -> down to 14 x 14 (``channels[1]``)
    -> ``groups`` cells -> down to 7 x 7 (``channels[2]``) -> ``groups`` cells; every cell's output
    at 14 and 7 feeds one latent group.

    Top-down (shared by prior and posterior): a learned 7 x 7 state h; for each group, top first,
    the prior's (mu, log sigma) from h (N(0, I) for the top group), the posterior's residual
    (dmu, log dsigma) from h plus the encoder feature, a sample z_l, then h <- cell(conv1x1([h, z_l]));
    between the scales, upsample x2; at the end, upsample to 28 x 28, a cell and the Bernoulli
    logits.
    """

    def __init__(self, *, channels=(16, 32, 32), latent: int = 4, groups: int = 2,
                 expansion: int = 3, seed: int | None = None):
        super().__init__()
        channels = [positive_int(c, "every channel count") for c in channels]
        if len(channels) != 3:
            raise ValueError(f"channels must give three widths (28, 14, 7), got {channels}")
        self.latent = positive_int(latent, "latent")
        self.groups = positive_int(groups, "groups")
        c28, c14, c7 = channels
        with runtime.seeded_init(seed):
            self.stem = nn.Conv2d(1, c28, 3, padding=1)
            self.enc28 = EncoderCell(c28)
            self.down14 = EncoderCell(c28, c14, downsample=True)
            self.enc14 = nn.ModuleList(EncoderCell(c14) for _ in range(groups))
            self.down7 = EncoderCell(c14, c7, downsample=True)
            self.enc7 = nn.ModuleList(EncoderCell(c7) for _ in range(groups))
            self.h0 = nn.Parameter(torch.zeros(1, c7, 7, 7))
            # one entry per latent group, top (7 x 7) first
            widths = [c7] * groups + [c14] * groups
            self.enc_combine = nn.ModuleList(nn.Conv2d(c, c, 1) for c in widths)
            self.posterior = nn.ModuleList(_Sampler(c, latent) for c in widths)
            self.prior = nn.ModuleList(_Sampler(c, latent) for c in widths)
            self.dec_combine = nn.ModuleList(nn.Conv2d(c + latent, c, 1) for c in widths)
            self.dec_cells = nn.ModuleList(GenerativeCell(c, expansion=expansion) for c in widths)
            self.up14 = nn.Conv2d(c7, c14, 1)
            self.up28 = nn.Conv2d(c14, c28, 1)
            self.post_cell = GenerativeCell(c28, expansion=expansion)
            self.out = nn.Sequential(nn.ELU(), nn.Conv2d(c28, 1, 3, padding=1))
        self.n_groups = 2 * groups
        for i, w in enumerate(self._spectral_weights()):
            self.register_buffer(f"_power_u{i}", F.normalize(
                torch.randn(w.shape[0], generator=torch.Generator().manual_seed(i)), dim=0))

    # the encoder: bottom-up features, returned top group first
    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.down14(self.enc28(self.stem(2 * x - 1)))
        feats = []
        for cell in self.enc14:
            h = cell(h)
            feats.append(h)
        h = self.down7(h)
        for cell in self.enc7:
            h = cell(h)
            feats.append(h)
        return feats[::-1]

    def _prior(self, l: int, h: torch.Tensor):
        if l == 0:  # the top group's prior is N(0, I)
            zeros = h.new_zeros(len(h), self.latent, 7, 7)
            return zeros, zeros
        return self.prior[l](h)

    def _step(self, l: int, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Absorb group l's sample into the top-down state (and upsample after the top scale)."""
        h = self.dec_cells[l](self.dec_combine[l](torch.cat([h, z], 1)))
        if l == self.groups - 1:
            h = self.up14(F.interpolate(h, scale_factor=2, mode="nearest"))
        return h

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        h = self.up28(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out(self.post_cell(h))

    def forward(self, x: torch.Tensor) -> dict:
        """x: (n, 1, 28, 28) binary images -> ``logits`` (n, 1, 28, 28) of p(x | z) and, per group,
        the analytic residual KL (``kl``, list of (n,)) and the sampled log p(z_l | z_<l) -
        log q(z_l | z_<l, x) (``log_ratio``, list of (n,)), with z ~ q."""
        feats = self.encode(x)
        h = self.h0.expand(len(x), -1, -1, -1)
        kl, log_ratio = [], []
        for l, e in enumerate(feats):
            mu_p, ls_p = self._prior(l, h)
            dmu, dls = self.posterior[l](e + self.enc_combine[l](h))
            mu_q, ls_q = mu_p + dmu, ls_p + dls
            z = mu_q + torch.exp(ls_q) * torch.randn_like(mu_q)
            kl.append(_residual_kl(dmu, dls, ls_p))
            log_ratio.append(_log_normal(z, mu_p, ls_p) - _log_normal(z, mu_q, ls_q))
            h = self._step(l, h, z)
        return {"logits": self._logits(h), "kl": kl, "log_ratio": log_ratio}

    @torch.no_grad()
    def sample(self, n: int, *, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n images (pixel probabilities, n x 1 x 28 x 28) from the prior, each group's noise scaled
        by ``temperature`` (z_l = mu + t * sigma * eps; t < 1 trades diversity for quality)."""
        n = positive_int(n, "n")
        t = non_negative(temperature, "temperature")
        device = self.h0.device
        h = self.h0.expand(n, -1, -1, -1)
        for l in range(self.n_groups):
            mu, ls = self._prior(l, h)
            eps = torch.randn(mu.shape, generator=generator).to(device)
            h = self._step(l, h, mu + t * torch.exp(ls) * eps)
        return torch.sigmoid(self._logits(h))

    def log_weight(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x, z) - log q(z | x) for one z ~ q(z | x) per image (x: n x 784 or n x 1 x 28 x 28
        binary): the per-sample quantity importance sampling averages."""
        out = self(x.reshape(-1, 1, SIDE, SIDE))
        return -_bernoulli_nll(out["logits"], x) + sum(out["log_ratio"])

    # spectral regularisation
    def _spectral_weights(self) -> list[torch.Tensor]:
        return [m.weight for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]

    def spectral_penalty(self, n_iter: int = 1) -> torch.Tensor:
        """sum over every convolution and linear layer of its largest singular value (the weight
        reshaped to out x (in * k * k)), by ``n_iter`` power-iteration steps from the estimates
        kept in the model's buffers (so one step per training step tracks it)."""
        buffers = [getattr(self, f"_power_u{i}") for i in range(len(self._spectral_weights()))]
        return sum(_power_sigma(w, u, n_iter) for w, u in zip(self._spectral_weights(), buffers))


def _power_sigma(weight: torch.Tensor, u: torch.Tensor, n_iter: int) -> torch.Tensor:
    """u^T W v after ``n_iter`` power-iteration steps (u updated in place); differentiable in W."""
    w = weight.reshape(len(weight), -1)
    with torch.no_grad():
        for _ in range(n_iter):
            v = F.normalize(w.t() @ u, dim=0)
            u.copy_(F.normalize(w @ v, dim=0))
        v = F.normalize(w.t() @ u, dim=0)
    return u @ w @ v


def spectral_norm(weight: torch.Tensor, *, n_iter: int = 50, seed: int = 0) -> torch.Tensor:
    """The largest singular value of ``weight`` reshaped to (out, rest), by ``n_iter`` steps of
    power iteration from a seeded random start (how NVAE's spectral regulariser measures it)."""
    weight = float_tensor(weight, "weight", nonempty=True)
    if weight.ndim < 2:
        raise ValueError(f"weight must have at least 2 dimensions, got shape {tuple(weight.shape)}")
    n_iter = positive_int(n_iter, "n_iter")
    u = torch.randn(len(weight), generator=torch.Generator().manual_seed(seed), dtype=weight.dtype)
    return _power_sigma(weight, F.normalize(u.to(weight.device), dim=0), n_iter)


def _bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) of a Bernoulli decoder, summed over the pixels: one value per image."""
    return F.binary_cross_entropy_with_logits(logits.flatten(1), x.reshape(len(x), -1),
                                              reduction="none").sum(1)


# -- training -------------------------------------------------------------------------------------
def kl_warmup(progress: float, *, portion: float = 0.3, floor: float = 1e-4) -> float:
    """NVAE's KL warm-up: the KL term's weight rises linearly from ``floor`` to 1 over the first
    ``portion`` of training (``progress`` in [0, 1]) and stays at 1."""
    progress, portion = real_number(progress, "progress"), positive(portion, "portion")
    floor = fraction(floor, "floor")
    if not 0 <= progress <= 1:
        raise ValueError(f"progress must be in [0, 1], got {progress}")
    return max(floor, min(1.0, progress / portion))


class NVAELoss:
    """The negative ELBO of a dynamically binarised batch, plus the spectral penalty:

        loss = mean[ -log p(x|z) + beta * sum_l KL_l ] + lambda * sum_layers sigma_max,

    ``beta`` (``kl_weight``) set by :class:`Schedule`. Reports the ELBO (nats, beta = 1)."""

    def __init__(self, *, spectral_weight: float = 1e-2):
        self.spectral_weight = non_negative(spectral_weight, "spectral_weight")
        self.kl_weight = 1.0

    def __call__(self, model: NVAE, x: torch.Tensor):
        x = float_tensor(x, "x", ndim=2, finite=False)
        xb = torch.bernoulli(x).reshape(-1, 1, SIDE, SIDE)
        out = model(xb)
        recon = _bernoulli_nll(out["logits"], xb)
        kl = sum(out["kl"])
        loss = (recon + self.kl_weight * kl).mean()
        if self.spectral_weight:
            loss = loss + self.spectral_weight * model.spectral_penalty()
        return loss, {"elbo": -(recon + kl).mean().detach(), "recon": recon.mean().detach(),
                      "kl": kl.mean().detach()}


class Schedule(Callback):
    """Sets the KL weight (:func:`kl_warmup`) and a cosine learning rate from the progress of
    training: the larger of steps done / ``total_steps`` and, with a ``budget``, seconds trained /
    its seconds (whichever limit comes first)."""

    def __init__(self, loss: NVAELoss, total_steps: int, *, lr: float, warmup_portion: float = 0.3,
                 budget: TimeBudget | None = None, min_lr_ratio: float = 0.05):
        self.loss, self.total = loss, positive_int(total_steps, "total_steps")
        self.lr, self.portion = positive(lr, "lr"), positive(warmup_portion, "warmup_portion")
        self.budget, self.min_ratio = budget, fraction(min_lr_ratio, "min_lr_ratio")
        self.kl_weights: list[float] = []

    def progress(self, trainer) -> float:
        p = trainer.step / self.total
        if self.budget is not None:
            p = max(p, self.budget.elapsed / self.budget.seconds)
        return min(p, 1.0)

    def _apply(self, trainer):
        p = self.progress(trainer)
        self.loss.kl_weight = kl_warmup(p, portion=self.portion)
        lr = self.lr * (self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * p)))
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr

    def on_train_begin(self, trainer):
        self._apply(trainer)

    def on_step_end(self, trainer, logs):
        self.kl_weights.append(self.loss.kl_weight)
        self._apply(trainer)


@torch.no_grad()
def readjust_batch_norm(model: NVAE, *, temperature: float = 1.0, batches: int = 20,
                        batch_size: int = 200, seed: int = 0) -> None:
    """NVAE's fix for batch norm at sampling time: reset every batch-norm layer's running
    statistics and re-estimate them (a plain average) from ``batches`` batches of samples drawn in
    training mode at ``temperature``, instead of the running averages from training."""
    if not isinstance(model, NVAE):
        raise TypeError(f"model must be an NVAE, got {type(model).__name__}")
    batches, batch_size = positive_int(batches, "batches"), positive_int(batch_size, "batch_size")
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = model.training
    model.train()
    generator = torch.Generator().manual_seed(seed)
    try:
        for _ in range(batches):
            model.sample(batch_size, temperature=temperature, generator=generator)
    finally:
        for m, mom in zip(norms, saved):
            m.momentum = mom
        model.train(was_training)


class MLPVAE(nn.Module):
    """The plain baseline: one Gaussian latent vector, MLP encoder and Bernoulli MLP decoder."""

    def __init__(self, widths=(784, 512, 256, 32), *, seed: int | None = None):
        super().__init__()
        widths = list(widths)
        self.encoder = GaussianEncoder(widths, activation=nn.SiLU, seed=seed)
        self.decoder = mlp(widths[::-1], activation=nn.SiLU,  # logits
                           seed=None if seed is None else seed + 1)

    def forward(self, x):
        mean, log_var = self.encoder(x.reshape(len(x), -1))
        z = sample(mean, log_var, torch.randn_like(mean))
        log_ratio = (_log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
                     - _log_normal(z, mean, 0.5 * log_var))
        return {"logits": self.decoder(z), "kl": [kl_to_standard(mean, log_var)],
                "log_ratio": [log_ratio]}

    def log_weight(self, x):
        out = self(x)
        return -_bernoulli_nll(out["logits"], x) + out["log_ratio"][0]


def mlp_vae_loss(model: MLPVAE, x: torch.Tensor):
    """The negative ELBO of a dynamically binarised batch (the KL in closed form)."""
    xb = torch.bernoulli(x)
    out = model(xb)
    recon, kl = _bernoulli_nll(out["logits"], xb), out["kl"][0]
    return (recon + kl).mean(), {"elbo": -(recon + kl).mean().detach()}


# -- the experiment -------------------------------------------------------------------------------
def _train(model, loss_fn, x, config, seconds, steps, lr, schedule_loss=None):
    """Adamax (NVAE's optimiser) for ``steps`` steps or ``seconds``, whichever ends first."""
    budget = TimeBudget(seconds)
    opt = torch.optim.Adamax(model.parameters(), lr=lr)
    callbacks = [budget]
    schedule = None
    if schedule_loss is not None:
        schedule = Schedule(schedule_loss, steps, lr=lr,
                            warmup_portion=config["warmup_portion"], budget=budget)
        callbacks.append(schedule)
    trainer = Trainer(model, opt, loss_fn, x, batch_size=config["batch_size"], seed=config["seed"],
                      callbacks=callbacks, log_every=config["log_every"],
                      description=type(model).__name__)
    start = time.perf_counter()
    history = trainer.fit(steps=steps)
    return history, {"steps": trainer.step, "train_seconds": time.perf_counter() - start,
                     "epochs": trainer.step / trainer.steps_per_epoch,
                     "stopped_by_time": budget.stopped_step is not None}, schedule


def _nll(model, x_test, k, batch_size):
    model.eval()
    ll = importance_log_likelihood(model.log_weight, x_test, k=k, batch_size=batch_size)
    elbo = importance_log_likelihood(model.log_weight, x_test, k=1, batch_size=batch_size)
    return {"nll": float(-ll.mean()), "nll_se": float(ll.std() / math.sqrt(len(ll))),
            "test_elbo": float(elbo.mean())}


@experiment(
    "nvae-mnist",
    quick=dict(n_train=10000, n_test=100, steps=50, train_seconds=7, batch_size=32, lr=1e-2,
               warmup_portion=0.3, spectral_weight=1e-2, channels=[8, 16, 16], expansion=2,
               latent=4, groups=2, k=10, eval_batch=1000, baseline_steps=300, baseline_lr=2e-3,
               baseline_seconds=2.5, log_every=5, seed=0),
    full=dict(n_train=60000, n_test=500, steps=200 * 468, train_seconds=1080, batch_size=128,
              lr=1e-2, warmup_portion=0.3, spectral_weight=1e-2, channels=[16, 32, 32],
              expansion=3, latent=4, groups=2, k=100, eval_batch=2000, baseline_steps=50 * 468,
              baseline_lr=2e-3, baseline_seconds=120, log_every=20, seed=0),
    metric="nll",
    description="A two-scale NVAE (4 latent groups at 7x7 and 14x14, residual normal posteriors, "
                "SE residual cells, KL warm-up, spectral regularisation) on dynamically binarised "
                "MNIST, trained for a wall-clock budget; test NLL in nats by importance sampling "
                "with k samples on the first n_test test images (binarised once), beside a plain "
                "MLP VAE's.",
    post=7574,
    reference=Reference(value=78.01, metric="nll", where="the NVAE paper (arXiv 2007.03898), "
                        "Table 2, dynamically binarised MNIST, quoted by post 7574's discussion"),
)
def run_nvae(config: dict):
    """Train the NVAE for ``steps`` steps or ``train_seconds`` (whichever ends first; warm-up and
    the cosine learning rate follow that progress), and a plain MLP VAE likewise; estimate both
    test NLLs with K = ``k`` importance samples. Artifacts: the model (BN re-estimated at T = 1 is
    left to the chapter), the histories, the KL-weight schedule."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    images, _ = data.mnist("train")
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(config["seed"]))
    x_train = data.as_float(images[pick[:config["n_train"]]], device=dev)
    test_images, _ = data.mnist("test")
    x_test = binarise(data.as_float(test_images[:config["n_test"]], device=dev),
                      torch.Generator(device=dev).manual_seed(config["seed"] + 1))

    model = NVAE(channels=config["channels"], latent=config["latent"], groups=config["groups"],
                 expansion=config["expansion"], seed=config["seed"]).to(dev)
    loss = NVAELoss(spectral_weight=config["spectral_weight"])
    history, info, schedule = _train(model, loss, x_train, config, config["train_seconds"],
                                     config["steps"], config["lr"], schedule_loss=loss)
    start = time.perf_counter()
    nvae = _nll(model, x_test, config["k"], config["eval_batch"])
    nvae["eval_seconds"] = time.perf_counter() - start

    baseline = MLPVAE(seed=config["seed"]).to(dev)
    base_history, base_info, _ = _train(baseline, mlp_vae_loss, x_train, config,
                                        config["baseline_seconds"], config["baseline_steps"],
                                        config["baseline_lr"])
    base = {**_nll(baseline, x_test, config["k"], config["eval_batch"]), **base_info}

    metrics = {"nll": nvae["nll"], "nll_se": nvae["nll_se"], "test_elbo": nvae["test_elbo"],
               "k": config["k"], "n_test": len(x_test), **info,
               "eval_seconds": nvae["eval_seconds"],
               "final_train_elbo": history.rows[-1]["elbo"],
               "parameters": sum(p.numel() for p in model.parameters()),
               "latent_dims": config["latent"] * config["groups"] * (7 * 7 + 14 * 14),
               "mlp_vae": base,
               "history": {key: [row[key] for row in history.rows]
                           for key in ("step", "elbo", "recon", "kl")}}
    artifacts = {"model": model.cpu().eval(), "history": history.rows,
                 "mlp_history": base_history.rows, "kl_weights": schedule.kl_weights,
                 "x_test": x_test.cpu()}
    return metrics, artifacts


# -- tables and figures ---------------------------------------------------------------------------
def nll_rows(records: dict) -> list[list]:
    """Rows (model, profile, training, K x test images, NLL, test ELBO) of the NLL table, one
    pair (NVAE, plain MLP VAE) per record in ``records`` (label -> a record's metrics), then the
    NVAE paper's number."""
    rows = []
    for label, m in records.items():
        for name, r in (("our NVAE", m), ("plain MLP VAE", m["mlp_vae"])):
            secs = r["train_seconds"]
            took = f"{secs:.0f} s" if secs < 120 else f"{secs / 60:.1f} min"
            rows.append([name, label, f"{r['steps']} steps ({r['epochs']:.2f} epochs), {took}",
                         f"{m['k']} × {m['n_test']}",
                         f"{r['nll']:.1f} ± {r['nll_se']:.1f}", f"{-r['test_elbo']:.1f}"])
    rows.append(["NVAE (Vahdat & Kautz, 2020)", "paper", "about 21 h on two V100s",
                 "importance sampled", "78.01", "—"])
    return rows


NLL_HEADER = ["model", "run", "training", "K × test images", "NLL (nats)", "−ELBO (nats)"]


def plot_training(fig, rows: list[dict], kl_weights: list[float]) -> None:
    """Left: the training batches' negative ELBO and reconstruction term against the step; right:
    the KL term and the warm-up weight it trained with."""
    if not rows:
        raise ValueError("rows must hold the training history (at least one logged row)")
    step = [r["step"] for r in rows]
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(step, [-r["elbo"] for r in rows], label="−ELBO = recon + KL")
    ax.plot(step, [r["recon"] for r in rows], label="recon: −log p(x|z)")
    ax.set(xlabel="step", ylabel="nats per image", title="training batches")
    ax.legend()
    ax.grid(alpha=0.3)
    ax = fig.add_subplot(1, 2, 2)
    ax.plot(step, [r["kl"] for r in rows], color="C2", label="KL (all groups)")
    ax.set(xlabel="step", ylabel="KL (nats per image)", title="KL term and its warm-up weight")
    twin = ax.twinx()
    twin.plot(range(1, len(kl_weights) + 1), kl_weights, color="C3", ls="--", label="KL weight β")
    twin.set(ylabel="β", ylim=(0, 1.05))
    ax.legend(handles=ax.get_lines() + twin.get_lines(), loc="center right")
    fig.tight_layout()


def draw_samples(fig, model: NVAE, temperature: float, *, n: int = 36, seed: int = 0) -> None:
    """``n`` samples (pixel probabilities) at ``temperature``; the same seed gives the same noise
    at every temperature, so frames differ by the temperature alone."""
    from .. import viz

    images = model.sample(n, temperature=temperature, generator=torch.Generator().manual_seed(seed))
    viz.image_grid(images[:, 0].cpu(), ncols=int(math.sqrt(n)) or 1, ax=fig.add_subplot(1, 1, 1),
                   title=f"samples at temperature {temperature:.2f}")


def plot_temperatures(fig, model: NVAE, temperatures=(0.0, 0.5, 0.8, 1.0), *, n: int = 12,
                      seed: int = 0) -> None:
    """One row of ``n`` samples per temperature, from the same noise."""
    from .. import viz

    for i, t in enumerate(temperatures):
        images = model.sample(n, temperature=t, generator=torch.Generator().manual_seed(seed))
        viz.image_grid(images[:, 0].cpu(), ncols=n, ax=fig.add_subplot(len(temperatures), 1, i + 1),
                       title=f"T = {t:g}")
    fig.tight_layout()
