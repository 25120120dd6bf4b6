"""One adversarial training loop for every GAN of Part V, built on :class:`kexue.train.Trainer`.

A GAN has two players with two losses: the discriminator (or critic) ``D`` minimises its loss with
the generator ``G`` held fixed, then ``G`` minimises its own with ``D`` held fixed. Each step of
:class:`AdversarialTrainer` takes one batch of real data and makes one update of ``D`` on it; after
every ``discriminator_steps``-th update of ``D``, ``G`` takes ``generator_steps`` updates (WGAN's
five critic updates per generator update are ``discriminator_steps=5``). Everything the trainer
gives a single model still works: callbacks, progress bars, time budgets, and checkpoints that hold
both players, both optimisers and the random states, so an interrupted run resumes bit for bit.

Serves chapters/part5-gans/wasserstein-gan.ipynb (post 6280) and
chapters/part5-gans/single-loss-gan.ipynb (post 6387).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from .. import train
from ..checks import positive_int


class Players(nn.Module):
    """The two players as one module (one state dict for checkpoints): ``generator``, which maps
    codes of ``latent`` standard normal coordinates to samples, and ``discriminator``, which maps
    samples to one score each."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, latent: int):
        super().__init__()
        for name, module in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(module, nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(module).__name__}")
        self.generator, self.discriminator = generator, discriminator
        self.latent = positive_int(latent, "latent")

    def codes(self, n: int, device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` codes z ~ N(0, I) from torch's global generator (saved in checkpoints)."""
        return torch.randn(n, self.latent, device=device)

    @torch.no_grad()
    def check_shapes(self, data: torch.Tensor) -> None:
        """A clear ``ValueError`` unless the generator makes samples shaped like the rows of
        ``data`` and the discriminator gives one score per row."""
        training = self.training
        self.eval()
        try:
            z = torch.randn(2, self.latent, generator=torch.Generator().manual_seed(0))
            try:
                made = self.generator(z.to(data.device))
            except RuntimeError as err:
                raise ValueError(f"the generator cannot take codes of {self.latent} "
                                 f"coordinates: {err}") from err
            if made.shape[1:] != data.shape[1:]:
                raise ValueError(f"the generator makes samples of shape {tuple(made.shape[1:])}, "
                                 f"the data's are {tuple(data.shape[1:])}")
            try:
                scores = self.discriminator(data[:2])
            except RuntimeError as err:
                raise ValueError(f"the discriminator cannot take the data's samples of shape "
                                 f"{tuple(data.shape[1:])}: {err}") from err
            if scores.shape != (len(data[:2]),):
                raise ValueError(f"the discriminator must give one score per sample, shape "
                                 f"(n,); for n = {len(data[:2])} it gave {tuple(scores.shape)}")
        finally:
            self.train(training)


class OptimizerPair:
    """The two players' optimisers, saved and restored together."""

    def __init__(self, generator: torch.optim.Optimizer, discriminator: torch.optim.Optimizer):
        self.generator, self.discriminator = generator, discriminator

    def state_dict(self) -> dict:
        return {"generator": self.generator.state_dict(),
                "discriminator": self.discriminator.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])


def _split(out) -> tuple[torch.Tensor, dict]:
    loss, metrics = out if isinstance(out, tuple) else (out, {})
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise ValueError(f"a player's loss function must return a scalar tensor loss, got "
                         f"{getattr(loss, 'shape', type(loss).__name__)}")
    return loss, metrics


#: the key under which a row's generator updates are counted (its ``g_`` metrics are their means)
GENERATOR_UPDATES = "generator_updates"


class AdversarialTrainer(train.Trainer):
    """Train ``players`` (:class:`Players`) on ``data``: each step draws a batch of real rows and
    minimises ``discriminator_loss(players, *batch)`` over the discriminator's parameters with
    ``discriminator_optimizer``; every ``discriminator_steps`` steps, ``generator_loss(players,
    *batch)`` is minimised ``generator_steps`` times over the generator's with
    ``generator_optimizer``. ``discriminator_projection``, if given, is applied to the
    discriminator after each of its updates (WGAN's weight clipping). Each loss function returns a scalar loss or ``(loss, metrics)``; it
    draws its own noise from torch's global generator (saved in checkpoints).

    The history's rows hold the discriminator's loss as ``loss`` and ``d_loss``, its metrics
    prefixed ``d_``, and the generator's loss and metrics prefixed ``g_``, averaged over the
    generator updates the row saw (counted in ``generator_updates``). Other keyword arguments go to
    :class:`kexue.train.Trainer` (batch size, seed, callbacks, checkpoints, ``log_every`` ...).
    """

    def __init__(self, players: Players, generator_optimizer: torch.optim.Optimizer,
                 discriminator_optimizer: torch.optim.Optimizer, generator_loss: Callable,
                 discriminator_loss: Callable, data: torch.Tensor | Sequence[torch.Tensor], *,
                 discriminator_steps: int = 1, generator_steps: int = 1,
                 discriminator_projection: Callable[[nn.Module], None] | None = None, **kwargs):
        if not isinstance(players, Players):
            raise TypeError(f"players must be kexue.gans.two_players.Players, got "
                            f"{type(players).__name__}")
        for name, opt, module in (("generator_optimizer", generator_optimizer, players.generator),
                                  ("discriminator_optimizer", discriminator_optimizer,
                                   players.discriminator)):
            own = {id(p) for p in module.parameters()}
            given = [p for group in opt.param_groups for p in group["params"]]
            if not given or any(id(p) not in own for p in given):
                raise ValueError(f"{name} must optimise only the {name.split('_')[0]}'s "
                                 f"parameters")
        self.discriminator_steps = positive_int(discriminator_steps, "discriminator_steps")
        self.generator_steps = positive_int(generator_steps, "generator_steps")
        self.generator_loss, self.discriminator_loss = generator_loss, discriminator_loss
        self.discriminator_projection = discriminator_projection
        first = data if isinstance(data, torch.Tensor) else data[0]
        players.check_shapes(first)
        super().__init__(players, OptimizerPair(generator_optimizer, discriminator_optimizer),
                         None, data, **kwargs)

    def _fingerprint(self) -> dict:
        return {**super()._fingerprint(), "discriminator_steps": self.discriminator_steps,
                "generator_steps": self.generator_steps}

    def _update(self, optimizer: torch.optim.Optimizer, loss_fn: Callable, batch) -> dict:
        self.model.zero_grad(set_to_none=True)
        loss, metrics = _split(loss_fn(self.model, *batch))
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach(), **{k: v.detach() for k, v in metrics.items()}}

    def _add(self, logs: dict) -> None:
        for key, value in logs.items():
            self._sums[key] = self._sums.get(key, 0.0) + value.float()

    def _train_step(self, batch) -> dict:
        self.model.train()
        d = self._update(self.optimizer.discriminator, self.discriminator_loss, batch)
        if self.discriminator_projection is not None:
            with torch.no_grad():
                self.discriminator_projection(self.model.discriminator)
        logs = {"loss": d["loss"], **{f"d_{k}": v for k, v in d.items()}}
        self._add(logs)
        self._count += 1
        if (self.step + 1) % self.discriminator_steps == 0:
            for _ in range(self.generator_steps):
                g = {f"g_{k}": v for k, v in self._update(self.optimizer.generator,
                                                          self.generator_loss, batch).items()}
                self._add({**g, GENERATOR_UPDATES: torch.ones((), device=self.device)})
                logs.update(g)
        self.model.zero_grad(set_to_none=True)
        return logs

    def _log_row(self) -> dict:
        """Means since the last row: the discriminator's over the steps, the generator's over its
        updates."""
        updates = self._sums.pop(GENERATOR_UPDATES, None)
        generator = {k: self._sums.pop(k) for k in list(self._sums) if k.startswith("g_")}
        row = super()._log_row()
        if updates is not None:
            row.update({k: float(v) / float(updates) for k, v in generator.items()},
                       **{GENERATOR_UPDATES: int(updates)})
        return row


def adam_pair(players: Players, *, generator_lr: float, discriminator_lr: float,
              betas: tuple[float, float] = (0.5, 0.999)) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for each player (:func:`kexue.train.adam`, fused where it can be), with the betas GANs
    are usually trained with (beta1 = 0.5, Radford et al. 2016; WGAN-GP uses (0.5, 0.9))."""
    return (train.adam(players.generator.parameters(), generator_lr, betas=betas),
            train.adam(players.discriminator.parameters(), discriminator_lr, betas=betas))
