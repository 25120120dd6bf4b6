"""An autoregressive prior over VQ-VAE code grids (post 6760, in the spirit of its "PixelAtt").

A grid of codes c (H x W integers in [0, K)) is read in raster order, left to right and top to
bottom, and modelled as

    p(c) = prod_t p(c_t | c_1, ..., c_{t-1}),

each factor a K-way softmax. :class:`CodePrior` computes all H*W factors in one pass: the input
is the grid shifted right by one behind a start token, and causally masked self-attention lets
position t see only positions <= t of that input, that is the codes before c_t. New grids are
drawn one code at a time (:meth:`CodePrior.sample`) and decoded by the VQ-VAE's decoder.

Serves chapters/part3-vae/vq-vae.ipynb (post 6760).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .. import train
from ..checks import positive, positive_int
from ..runtime import seeded_init

__all__ = ["CodePrior", "prior_loss", "train_prior", "position_baseline_nll"]


class CodePrior(nn.Module):
    """Causal self-attention over the raster-ordered cells of an ``grid`` = (H, W) code grid:
    token and position embeddings of width ``width``, ``layers`` pre-norm transformer layers with
    ``heads`` heads and a causal mask, and a linear read-out to ``num_codes`` logits."""

    def __init__(self, num_codes: int, *, grid=(7, 7), width: int = 64, heads: int = 4,
                 layers: int = 2, seed: int | None = None):
        super().__init__()
        self.num_codes = positive_int(num_codes, "num_codes")
        if len(tuple(grid)) != 2:
            raise ValueError(f"grid must be (height, width), got {grid!r}")
        self.grid = (positive_int(grid[0], "grid height"), positive_int(grid[1], "grid width"))
        self.length = self.grid[0] * self.grid[1]
        width, heads = positive_int(width, "width"), positive_int(heads, "heads")
        if width % heads:
            raise ValueError(f"width {width} must be divisible by heads {heads}")
        with seeded_init(seed):
            self.token = nn.Embedding(self.num_codes + 1, width)       # the last is the start token
            self.position = nn.Parameter(0.02 * torch.randn(self.length, width))
            layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0,
                                               batch_first=True, norm_first=True)
            self.body = nn.TransformerEncoder(layer, positive_int(layers, "layers"),
                                              enable_nested_tensor=False)
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, self.num_codes)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(self.length),
                             persistent=False)

    def _check(self, codes) -> torch.Tensor:
        if not isinstance(codes, torch.Tensor) or codes.dtype != torch.int64:
            raise TypeError(f"codes must be an int64 tensor, got "
                            f"{getattr(codes, 'dtype', type(codes).__name__)}")
        if codes.ndim != 3 or tuple(codes.shape[1:]) != self.grid or len(codes) == 0:
            raise ValueError(f"codes must be grids of shape (n, {self.grid[0]}, {self.grid[1]}), "
                             f"n >= 1, got {tuple(codes.shape)}")
        return codes

    def _logits(self, flat: torch.Tensor) -> torch.Tensor:
        """Unchecked: logits (n, L', K) for raster-ordered codes (n, L'), L' <= L; position t's
        logits are those of p(c_t | c_<t)."""
        n, length = flat.shape
        start = torch.full((n, 1), self.num_codes, dtype=flat.dtype, device=flat.device)
        inputs = torch.cat([start, flat[:, :-1]], 1)
        h = self.token(inputs) + self.position[:length]
        h = self.body(h, mask=self.mask[:length, :length], is_causal=True)
        return self.head(self.norm(h))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Logits of p(c_t | c_<t) for every cell: shape (n, H, W, K)."""
        codes = self._check(codes)
        return self._logits(codes.reshape(len(codes), -1)).reshape(*codes.shape, self.num_codes)

    @torch.no_grad()
    def nll(self, codes: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
        """-log p(c) in nats for each grid: shape (n,)."""
        codes = self._check(codes)
        out = []
        for i in range(0, len(codes), batch_size):
            flat = codes[i:i + batch_size].reshape(-1, self.length)
            logits = self._logits(flat)
            out.append(F.cross_entropy(logits.transpose(1, 2), flat, reduction="none").sum(1))
        return torch.cat(out)

    @torch.no_grad()
    def sample(self, n: int, *, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new grids (n, H, W), each code drawn from p(c_t | c_<t) / ``temperature``
        in raster order."""
        n = positive_int(n, "n")
        temperature = positive(temperature, "temperature")
        device = self.head.weight.device
        flat = torch.zeros(n, 0, dtype=torch.int64, device=device)
        for t in range(self.length):
            # the logits at position t need only c_<t; a placeholder stands in for c_t
            logits = self._logits(torch.cat([flat, flat.new_zeros(n, 1)], 1))[:, t]
            probs = F.softmax(logits / temperature, dim=1)
            on = generator.device if generator is not None else device
            nxt = torch.multinomial(probs.to(on), 1, generator=generator).to(device)
            flat = torch.cat([flat, nxt], 1)
        return flat.reshape(n, *self.grid)


def prior_loss(model: CodePrior, codes: torch.Tensor):
    """Mean cross-entropy per code (nats) of the grids ``codes``: a loss for ``kexue.train``."""
    flat = codes.reshape(len(codes), -1)
    return F.cross_entropy(model._logits(flat).transpose(1, 2), flat)


def train_prior(codes: torch.Tensor, num_codes: int, config: dict, seed: int) -> tuple[CodePrior, list]:
    """Train a :class:`CodePrior` on code grids (n, H, W) with Adam through
    :func:`kexue.train.fit_adam`; ``config`` gives ``prior_width``, ``prior_heads``,
    ``prior_layers``, ``prior_lr``, ``prior_batch_size`` and ``prior_steps``."""
    model = CodePrior(num_codes, grid=tuple(codes.shape[1:]), width=config["prior_width"],
                      heads=config["prior_heads"], layers=config["prior_layers"],
                      seed=seed).to(codes.device)
    model._check(codes)
    history = train.fit_adam(model, prior_loss, codes, lr=config["prior_lr"],
                             batch_size=config["prior_batch_size"], steps=config["prior_steps"],
                             seed=seed, log_every=config.get("log_every"),
                             description="code prior")
    return model.eval(), history.rows


def position_baseline_nll(train_codes: torch.Tensor, test_codes: torch.Tensor, num_codes: int,
                          *, alpha: float = 1.0) -> torch.Tensor:
    """-log p(c) per test grid (nats) under independent codes, each cell with its own code
    frequencies on the training grids, smoothed by ``alpha`` pseudo-counts: what a prior that
    ignores the other codes can do."""
    num_codes = positive_int(num_codes, "num_codes")
    alpha = positive(alpha, "alpha")
    for name, c in (("train_codes", train_codes), ("test_codes", test_codes)):
        if not isinstance(c, torch.Tensor) or c.dtype != torch.int64 or c.ndim != 3 or len(c) == 0:
            raise ValueError(f"{name} must be non-empty int64 code grids (n, H, W)")
        if int(c.min()) < 0 or int(c.max()) >= num_codes:
            raise ValueError(f"{name} must lie in [0, {num_codes})")
    if train_codes.shape[1:] != test_codes.shape[1:]:
        raise ValueError("train_codes and test_codes must have the same grid shape")
    flat = train_codes.reshape(len(train_codes), -1)
    counts = torch.zeros(flat.shape[1], num_codes, dtype=torch.float64, device=flat.device)
    counts.scatter_add_(1, flat.T, torch.ones_like(flat.T, dtype=torch.float64))
    log_p = ((counts + alpha) / (len(flat) + alpha * num_codes)).log()
    test = test_codes.reshape(len(test_codes), -1).to(flat.device)
    return -log_p.gather(1, test.T).T.sum(1)
