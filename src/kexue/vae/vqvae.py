"""A small convolutional VQ-VAE for 28 x 28 images (post 6760).

The encoder turns an image into a 7 x 7 grid of d-dimensional vectors z_e, each is replaced by
its nearest codebook vector (:class:`kexue.vae.vector_quantise.VectorQuantiser`), and the decoder
maps the grid of code vectors back to pixels. An image is thereby encoded as 49 integers in
[0, K). The training loss is the post's

    |x - dec(z_e + sg(z_q - z_e))|^2 + |sg(z_e) - z_q|^2 + beta |z_e - sg(z_q)|^2,   beta = 0.25,

each term a mean over its coordinates (pixels, code coordinates). The experiment ``vqvae-mnist``
(:mod:`kexue.vae.experiments.vqvae`) trains the VQ-VAE, then the autoregressive prior of
:mod:`kexue.vae.code_prior` on the training images' code grids; the figures are in
:mod:`kexue.vae.figures.vqvae`.

Serves chapters/part3-vae/vq-vae.ipynb (post 6760).
"""
from __future__ import annotations

import torch
from torch import nn

from .. import train
from ..checks import positive_int
from ..runtime import seeded_init
from ..train import Callback
from .networks import check_batch
from .vector_quantise import VectorQuantiser, _nearest, code_counts

__all__ = ["VQVAE", "vqvae_loss", "RestartDeadCodes", "train_vqvae", "reconstruction_errors"]

SIDE, GRID = 28, 7


class VQVAE(nn.Module):
    """Encoder 28x28 -> (d, 7, 7) by two stride-2 convolutions and a 1x1 projection (ELU
    activations: with ReLUs the decoder often died into an all-black output early in training); a codebook
    of ``num_codes`` vectors of width ``code_dim``; decoder (d, 7, 7) -> 28x28 by a 3x3
    convolution and two stride-2 transposed convolutions, ending in a sigmoid. Images enter and
    leave flat, (n, 784), with values in [0, 1]."""

    def __init__(self, *, num_codes: int = 64, code_dim: int = 16, channels: int = 32,
                 beta: float = 0.25, seed: int | None = None):
        super().__init__()
        c = positive_int(channels, "channels")
        d = positive_int(code_dim, "code_dim")
        with seeded_init(seed):
            self.encoder = nn.Sequential(
                nn.Conv2d(1, c, 4, 2, 1), nn.ELU(),                  # 28 -> 14
                nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ELU(),              # 14 -> 7
                nn.Conv2d(2 * c, d, 1))
            self.decoder = nn.Sequential(
                nn.Conv2d(d, 2 * c, 3, 1, 1), nn.ELU(),
                nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ELU(),     # 7 -> 14
                nn.ConvTranspose2d(c, 1, 4, 2, 1), nn.Sigmoid())      # 14 -> 28
        self.quantiser = VectorQuantiser(num_codes, d, beta=beta,
                                         seed=None if seed is None else seed + 1)

    @property
    def num_codes(self) -> int:
        return self.quantiser.num_codes

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z_e, channel-last: shape (n, 7, 7, d)."""
        x = check_batch(x, SIDE * SIDE)
        return self.encoder(x.reshape(-1, 1, SIDE, SIDE)).permute(0, 2, 3, 1)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Pixels (n, 784) from a channel-last grid of code vectors (n, 7, 7, d)."""
        return self.decoder(z_q.permute(0, 3, 1, 2)).reshape(len(z_q), SIDE * SIDE)

    def forward(self, x: torch.Tensor) -> dict:
        """The quantiser's outputs (``indices`` of shape (n, 7, 7), the losses) and ``recon``."""
        out = self.quantiser(self.encode(x))
        out["recon"] = self.decode(out["z_q"])
        return out

    @torch.no_grad()
    def codes(self, x: torch.Tensor, *, batch_size: int = 2048) -> torch.Tensor:
        """The code grid of every image of ``x``: int64, (n, 7, 7)."""
        x = check_batch(x, SIDE * SIDE)
        return torch.cat([self.quantiser(self.encode(x[i:i + batch_size]))["indices"]
                          for i in range(0, len(x), positive_int(batch_size, "batch_size"))])

    @torch.no_grad()
    def decode_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Images (n, 784) from code grids (n, 7, 7) of int64 indices."""
        if not isinstance(indices, torch.Tensor) or indices.ndim != 3 \
                or tuple(indices.shape[1:]) != (GRID, GRID):
            raise ValueError(f"indices must be code grids of shape (n, {GRID}, {GRID}), got "
                             f"{tuple(getattr(indices, 'shape', ()))}")
        return self.decode(self.quantiser.lookup(indices))


def vqvae_loss(model: VQVAE, x: torch.Tensor):
    """The post's loss for ``kexue.train``: mean squared pixel error of the straight-through
    reconstruction + codebook loss + beta * commitment loss; the three terms as metrics."""
    out = model(x)
    recon = (out["recon"] - x).square().mean()
    return recon + out["loss"], {"recon": recon.detach(), "codebook": out["codebook_loss"].detach(),
                                 "commitment": out["commitment_loss"].detach()}


class RestartDeadCodes(Callback):
    """A ``kexue.train`` callback against dead codes: every ``every`` steps up to step ``until``,
    encode ``sample`` images drawn from ``x``, and move each code that none of their grid cells
    chose to one of their encoder outputs z_e, drawn at random. A code that no cell is near gets
    no gradient from the codebook loss and would otherwise stay unused for good. ``restarted``
    lists how many codes each check moved."""

    def __init__(self, x: torch.Tensor, *, every: int, until: int, sample: int = 1024, seed: int = 0):
        self.x = check_batch(x, SIDE * SIDE)
        self.every, self.until = positive_int(every, "every"), positive_int(until, "until")
        self.sample = positive_int(sample, "sample")
        self.generator = torch.Generator().manual_seed(seed)
        self.restarted: list[int] = []

    def on_step_end(self, trainer, logs):
        if trainer.step % self.every or trainer.step > self.until:
            return
        model = trainer.model
        pick = torch.randint(len(self.x), (self.sample,), generator=self.generator).to(self.x.device)
        with torch.no_grad():
            z_e = model.encode(self.x[pick]).reshape(-1, model.quantiser.dim)
            counts = code_counts(_nearest(z_e, model.quantiser.codebook), model.num_codes)
            dead = (counts == 0).nonzero().reshape(-1)
            rows = torch.randint(len(z_e), (len(dead),), generator=self.generator).to(z_e.device)
            model.quantiser.codebook[dead] = z_e[rows]
        self.restarted.append(len(dead))

    def state_dict(self):
        return {"restarted": list(self.restarted), "generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.restarted = list(state["restarted"])
        self.generator.set_state(state["generator"])


def train_vqvae(x: torch.Tensor, config: dict, seed: int) -> tuple[VQVAE, list]:
    """Train a :class:`VQVAE` on the rows of ``x`` with Adam through :func:`kexue.train.fit_adam`.
    ``config`` gives ``num_codes``, ``code_dim``, ``channels``, ``lr``, ``batch_size``, ``steps``,
    ``data_init`` (start the codebook at random encoder outputs of the untrained encoder,
    rather than uniform near zero) and ``restart_every`` (0: never; n: :class:`RestartDeadCodes`
    every n steps over the first half of training). Returns the model, the history rows and
    the number of codes restarted at each check."""
    model = VQVAE(num_codes=config["num_codes"], code_dim=config["code_dim"],
                  channels=config["channels"], seed=seed).to(x.device)
    if config["data_init"]:
        with torch.no_grad():
            z_e = model.encode(x[:max(1024, model.num_codes)]).reshape(-1, model.quantiser.dim)
        model.quantiser.init_from(z_e, generator=torch.Generator().manual_seed(seed))
    restart = [RestartDeadCodes(x, every=config["restart_every"], until=config["steps"] // 2,
                                seed=seed)] if config["restart_every"] else []
    history = train.fit_adam(model, vqvae_loss, x, lr=config["lr"], batch_size=config["batch_size"],
                             steps=config["steps"], seed=seed, callbacks=restart,
                             log_every=config.get("log_every"), description="VQ-VAE")
    return model.eval(), history.rows, (restart[0].restarted if restart else [])


@torch.no_grad()
def reconstruction_errors(model: VQVAE, x: torch.Tensor, *, batch_size: int = 2048) -> dict:
    """Mean squared error per pixel and per image (summed over the 784 pixels) of the decoded
    code grids, and the mean binary cross-entropy per image in nats."""
    x = check_batch(x, SIDE * SIDE)
    sq, bce = 0.0, 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        recon = model(xb)["recon"].clamp(1e-6, 1 - 1e-6)
        sq += float((recon - xb).square().sum())
        bce += float(-(xb * recon.log() + (1 - xb) * (1 - recon).log()).sum())
    return {"mse_per_pixel": sq / x.numel(), "mse_per_image": sq / len(x), "bce_per_image": bce / len(x)}
