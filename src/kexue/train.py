"""One small training loop for every chapter.

Batches are drawn by indexing tensors that already live on the device with a seeded random
permutation (no worker DataLoader). Metrics stay on the device until an epoch ends (no per-batch
host round trips). Checkpoints are written atomically and hold everything needed to resume
*exactly*: parameters, optimiser state, the epoch's permutation and position in it, and the RNG
states, so a run interrupted at step k and resumed ends bit-identical to an uninterrupted run.
An interrupt (Ctrl-C) stops the run at the end of the current step and writes a checkpoint first.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch


@dataclass
class History:
    """Rows of metric means, one every ``log_every`` steps: ``step``, ``epoch`` (fractional),
    ``loss`` and whatever else the loss function reports."""

    rows: list[dict] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[float]:
        if not self.rows or key not in self.rows[-1]:
            known = sorted(self.rows[-1]) if self.rows else []
            raise KeyError(f"no metric {key!r} in the history; it has {known}")
        return [row[key] for row in self.rows if key in row]

    def last(self, key: str) -> float:
        return self[key][-1]


class Callback:
    """Hooks into :class:`Trainer`. Set ``trainer.stop_training = True`` to stop after this step.

    ``on_step_end`` gets this step's metrics (device tensors); ``on_epoch_end`` gets the latest
    history row (means over the last ``log_every`` steps), or ``{}`` if none was logged yet.

    ``state_dict``/``load_state_dict`` let a callback's own state travel with checkpoints.
    """

    def on_train_begin(self, trainer: "Trainer") -> None: ...
    def on_step_end(self, trainer: "Trainer", logs: dict) -> None: ...
    def on_epoch_end(self, trainer: "Trainer", logs: dict) -> None: ...
    def on_train_end(self, trainer: "Trainer") -> None: ...
    def state_dict(self) -> dict: return {}
    def load_state_dict(self, state: dict) -> None: ...


class StepScheduler(Callback):
    """Step a ``torch.optim.lr_scheduler`` after every optimiser step (its state travels with
    checkpoints)."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def on_step_end(self, trainer, logs):
        self.scheduler.step()

    def state_dict(self):
        return self.scheduler.state_dict()

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state)


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return not os.environ.get("CI") and os.environ.get("KEXUE_PROGRESS", "1") != "0"


class Trainer:
    """Minimise ``loss_fn(model, batch)`` over ``data`` with ``optimizer``.

    ``data`` is a tensor or a tuple of tensors sharing their first dimension, already on the
    device; ``batch`` is the matching tuple of rows. ``loss_fn`` returns the loss, or
    ``(loss, metrics)`` with a dict of scalar tensors to average per epoch.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 loss_fn: Callable, data: torch.Tensor | Sequence[torch.Tensor], *,
                 batch_size: int, seed: int = 0, callbacks: Sequence[Callback] = (),
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int | None = None,
                 log_every: int | None = None, progress: bool | None = None,
                 description: str = "training"):
        self.data = (data,) if isinstance(data, torch.Tensor) else tuple(data)
        if not self.data or not all(isinstance(t, torch.Tensor) for t in self.data):
            raise TypeError("data must be a tensor or a non-empty tuple of tensors")
        self.n = len(self.data[0])
        if any(len(t) != self.n for t in self.data):
            raise ValueError(f"data tensors disagree on their first dimension: "
                             f"{[tuple(t.shape) for t in self.data]}")
        if not isinstance(batch_size, int) or not 1 <= batch_size <= self.n:
            raise ValueError(f"batch_size must be an int in [1, {self.n}], got {batch_size!r}")
        if checkpoint_every is not None and (checkpoint is None or checkpoint_every < 1):
            raise ValueError("checkpoint_every needs a checkpoint path and must be >= 1")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.batch_size, self.callbacks = batch_size, list(callbacks)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every = checkpoint_every
        self.progress, self.description = _progress_enabled(progress), description
        self.device = self.data[0].device
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.steps_per_epoch = self.n // batch_size
        if log_every is not None and (not isinstance(log_every, int) or log_every < 1):
            raise ValueError(f"log_every must be a positive int, got {log_every!r}")
        self.log_every = log_every or self.steps_per_epoch
        self.step = 0          # optimiser steps taken
        self.epoch = 0         # completed epochs
        self.position = 0      # batches taken in the current epoch
        self.permutation: torch.Tensor | None = None
        self.history = History()
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self.stop_training = False

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        if self.device.type == "mps":
            rng["mps"] = torch.mps.get_rng_state()
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "run": self._fingerprint(),
            "step": self.step, "epoch": self.epoch, "position": self.position,
            "permutation": self.permutation, "generator": self.generator.get_state(),
            "rng": rng, "history": self.history.rows, "sums": self._sums, "count": self._count,
            "callbacks": [cb.state_dict() for cb in self.callbacks],
        }

    def _fingerprint(self) -> dict:
        """What a checkpoint must agree on to resume this run: the data's shapes and the batch size."""
        return {"data": [tuple(t.shape) for t in self.data], "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        if state.get("run") != self._fingerprint():
            raise ValueError(f"the checkpoint belongs to another run ({state.get('run')}), not this "
                             f"one ({self._fingerprint()}): delete it or give another path")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        perm = state["permutation"]
        self.permutation = perm.to(self.device) if perm is not None else None
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["rng"]["cpu"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        if "mps" in state["rng"] and self.device.type == "mps":
            torch.mps.set_rng_state(state["rng"]["mps"])
        self.history = History(list(state["history"]))
        self._sums = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v
                      for k, v in state["sums"].items()}
        self._count = state["count"]
        for cb, cb_state in zip(self.callbacks, state["callbacks"]):
            cb.load_state_dict(cb_state)

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write the checkpoint atomically: a crash mid-write never leaves a broken file."""
        import tempfile

        path = Path(path or self.checkpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(self.state_dict(), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def _resume(self) -> None:
        if self.checkpoint is not None and self.checkpoint.exists():
            # RNG states must stay on the CPU; tensors are moved to the device as they are restored
            self.load_state_dict(torch.load(self.checkpoint, map_location="cpu", weights_only=False))

    # -- the loop ------------------------------------------------------------------------------
    def _next_batch(self) -> tuple[torch.Tensor, ...]:
        if self.batch_size == self.n:  # full batch: every step sees all the data, no copy needed
            self.position = self.position % self.steps_per_epoch + 1
            return self.data
        if self.permutation is None or self.position >= self.steps_per_epoch:
            self.permutation = torch.randperm(self.n, generator=self.generator, device=self.device)
            self.position = 0
        index = self.permutation[self.position * self.batch_size:(self.position + 1) * self.batch_size]
        self.position += 1
        return tuple(t[index] for t in self.data)

    def _train_step(self, batch) -> dict:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        out = self.loss_fn(self.model, *batch)
        loss, metrics = out if isinstance(out, tuple) else (out, {})
        if loss.ndim != 0:
            raise ValueError(f"loss_fn must return a scalar loss, got shape {tuple(loss.shape)}")
        loss.backward()
        self.optimizer.step()
        logs = {"loss": loss.detach(), **{k: v.detach() for k, v in metrics.items()}}
        for key, value in logs.items():
            self._sums[key] = self._sums.get(key, 0.0) + value.float()
        self._count += 1
        return logs

    def _log_row(self) -> dict:
        """Means since the last row (one host sync per row, none per step)."""
        row = {"step": self.step, "epoch": self.step / self.steps_per_epoch,
               **{k: float(v) / self._count for k, v in self._sums.items()}}
        self.history.rows.append(row)
        self._sums, self._count = {}, 0
        return row

    def fit(self, *, epochs: int | None = None, steps: int | None = None) -> History:
        """Train until ``epochs`` complete epochs or ``steps`` optimiser steps (counted from the
        start of the run, so resuming a checkpoint continues towards the same end).

        Ctrl-C (SIGINT) is deferred to the end of the current step, a checkpoint is written if
        the trainer has a path, and then ``KeyboardInterrupt`` is raised as usual.
        """
        if (epochs is None) == (steps is None):
            raise ValueError("give exactly one of epochs or steps")
        total = steps if steps is not None else epochs * self.steps_per_epoch
        if total < 1:
            raise ValueError(f"nothing to train: {total} steps")
        self._resume()
        self.stop_training = False
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=self.step, desc=self.description,
                   disable=not self.progress, leave=False)
        for cb in self.callbacks:
            cb.on_train_begin(self)
        interrupt = _DeferredInterrupt()
        try:
            with interrupt:
                while self.step < total and not self.stop_training:
                    self._one_step(bar)
                    if interrupt.pending:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            if self.checkpoint is not None and not interrupt.forced:
                self.save_checkpoint()
                bar.write(f"interrupted at step {self.step}; checkpoint saved to "
                          f"{self.checkpoint}: run the same fit again to resume")
            elif self.checkpoint is not None:  # stopped mid-step: this state is not consistent
                bar.write(f"interrupted in the middle of a step; {self.checkpoint} keeps the last "
                          "checkpoint written")
            raise
        finally:
            bar.close()
        if self._count and self.step >= total:  # a last partial row, so short runs have a history
            self._log_row()
        if self.checkpoint is not None:
            self.save_checkpoint()
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def _one_step(self, bar) -> None:
        """One optimiser step and its bookkeeping, then the callbacks (which see a consistent state)."""
        logs = self._train_step(self._next_batch())
        self.step += 1
        bar.update(1)
        if self.step % self.log_every == 0:
            row = self._log_row()
            bar.set_postfix(loss=f"{row['loss']:.4g}")
        epoch_ended = self.position == self.steps_per_epoch
        if epoch_ended:
            self.epoch += 1
        for cb in self.callbacks:
            cb.on_step_end(self, logs)
        if epoch_ended:
            for cb in self.callbacks:
                cb.on_epoch_end(self, self.history.rows[-1] if self.history.rows else {})
        if self.checkpoint_every and self.step % self.checkpoint_every == 0:
            self.save_checkpoint()


class _DeferredInterrupt:
    """Within the block, a first SIGINT only sets ``pending`` (the loop stops at a consistent
    point); a second one interrupts at once, as usual."""

    def __enter__(self):
        import signal
        import threading

        self.pending, self.forced, self._installed = False, False, False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _restore(self):
        import signal

        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None
                          else signal.default_int_handler)
            self._installed = False

    def _handle(self, signum, frame):
        if self.pending:
            self._restore()
            self.forced = True
            raise KeyboardInterrupt
        self.pending = True

    def __exit__(self, *exc):
        self._restore()
        return False


def fit(model, optimizer, loss_fn, data, *, batch_size: int, epochs: int | None = None,
        steps: int | None = None, **kwargs) -> History:
    """Shorthand: ``Trainer(model, optimizer, loss_fn, data, batch_size=..., **kwargs).fit(...)``."""
    return Trainer(model, optimizer, loss_fn, data, batch_size=batch_size, **kwargs).fit(
        epochs=epochs, steps=steps)
