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
The experiment ``nvae-mnist`` (:mod:`kexue.vae.experiments.nvae`) estimates the test
log-likelihood by importance sampling (:mod:`kexue.generative.likelihood`); the table and figures
are in :mod:`kexue.vae.figures.nvae`.

Serves chapters/part3-vae/nvae.ipynb (post 7574).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from ..checks import float_tensor, fraction, non_negative, positive, positive_int, real_number
from ..classifier import mlp
from ..train import Callback, TimeBudget
from .gaussian import kl_to_standard, sample
from .networks import GaussianEncoder

__all__ = ["residual_normal_kl", "soft_clamp", "SqueezeExcitation", "EncoderCell",
           "GenerativeCell", "NVAE", "spectral_norm", "kl_warmup", "NVAELoss", "Schedule",
           "readjust_batch_norm", "MLPVAE", "mlp_vae_loss"]

SIDE = 28


# -- the pieces -----------------------------------------------------------------------------------
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
