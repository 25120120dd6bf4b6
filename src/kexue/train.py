"""One small training loop for every chapter.

Batches are drawn by indexing tensors that already live on the device with a seeded random
permutation (no worker DataLoader). Metrics stay on the device until an epoch ends (no per-batch
host round trips). Checkpoints are written atomically and hold everything needed to resume
*exactly*: parameters, optimiser state, the epoch's permutation and position in it, and the RNG
states, so a run interrupted at step k and resumed ends bit-identical to an uninterrupted run.
An interrupt (Ctrl-C) stops the run at the end of the current step and writes a checkpoint first.

Inside :func:`checkpoints` (``python -m kexue reproduce`` opens one per run, keyed on the
experiment's configuration), every trainer created without a checkpoint path gets one of its own,
numbered in the order the trainers are made, and writes it every ``seconds`` as well: a run that is
interrupted or killed and started again skips the training it had finished and resumes the one it
was in, so it ends with the same numbers as a run that was never stopped.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from: unreadable, or written for another run or model."""


#: how to get past a :class:`CheckpointError`, said in its message
_START_AFRESH = "delete it to start afresh (python -m kexue reproduce: add --fresh)"


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


class _CheckpointFolder:
    """The folder of a :func:`checkpoints` block: hands out ``trainer-1.pt``, ``trainer-2.pt`` ...
    to the trainers made inside it, in order."""

    def __init__(self, folder: Path, seconds: float):
        self.folder, self.seconds, self.made = folder, seconds, 0

    def next_path(self) -> Path:
        self.made += 1
        return self.folder / f"trainer-{self.made}.pt"


_FOLDERS: list[_CheckpointFolder] = []


@contextlib.contextmanager
def checkpoints(folder: str | os.PathLike, *, seconds: float = 60.0):
    """Give every :class:`Trainer` made in the block, without a checkpoint path of its own, the
    checkpoint ``folder/trainer-N.pt`` (N counts the trainers made in the block), written at the
    end of its training, on Ctrl-C and at least every ``seconds`` of training (so a killed run loses
    at most that much). A trainer whose file exists resumes from it: run the same code again in the
    same folder and each finished training is skipped (its final state loaded, random generators
    included) and the unfinished one continues exactly where it stopped."""
    from .checks import positive

    entry = _CheckpointFolder(Path(folder), positive(seconds, "seconds"))
    _FOLDERS.append(entry)
    try:
        yield entry.folder
    finally:
        _FOLDERS.remove(entry)


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


class LearningRateMonitor(Callback):
    """Record the learning rate each optimiser step used (one value per parameter group).

    It reads ``optimizer.param_groups`` in ``on_step_end``, after the step and before any
    :class:`StepScheduler` that follows it in the callbacks has moved the rate on, so it must come
    *before* them (checked when training begins). ``steps[i]`` used ``lrs[i]``.
    """

    def __init__(self):
        self.steps: list[int] = []
        self.lrs: list[list[float]] = []

    @property
    def lr(self) -> list[float]:
        """The rates of the first parameter group, one per recorded step."""
        return [group[0] for group in self.lrs]

    def on_train_begin(self, trainer):
        for cb in trainer.callbacks:
            if cb is self:
                break
            if isinstance(cb, StepScheduler):
                raise ValueError("LearningRateMonitor must come before the StepScheduler in the "
                                 "callbacks, to record the rate a step used before it changes")

    def on_step_end(self, trainer, logs):
        self.steps.append(trainer.step)
        self.lrs.append([float(group["lr"]) for group in trainer.optimizer.param_groups])

    def state_dict(self):
        return {"steps": list(self.steps), "lrs": [list(g) for g in self.lrs]}

    def load_state_dict(self, state):
        self.steps, self.lrs = list(state["steps"]), [list(g) for g in state["lrs"]]


class EMA(Callback):
    """An exponential moving average of ``model``'s parameters, updated after every step:

        avg_0 = theta_0 (the weights when training begins),
        avg_t = decay * avg_{t-1} + (1 - decay) * theta_t,

    so ``avg_t = decay^t theta_0 + (1 - decay) sum_{s=1..t} decay^(t-s) theta_s``. This is
    ``torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))``
    updated once before training and after every step. With ``buffers=True`` the floating-point
    buffers (batch-norm statistics) are averaged too (``use_buffers=True`` there); other buffers are
    always the model's own. Training never sees the average: ``with ema.averaged(): ...`` runs code
    with the averages in the model and puts the trained weights back afterwards.
    """

    def __init__(self, model: torch.nn.Module, decay: float, *, buffers: bool = False):
        from .checks import real_number

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        decay = real_number(decay, "decay")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.model, self.decay, self.buffers = model, decay, bool(buffers)
        self.average: list[torch.Tensor] | None = None  # set when training begins, or by a checkpoint
        self.updates = 0
        self._swapped = False

    def _tensors(self) -> list[torch.Tensor]:
        tensors = [p.detach() for p in self.model.parameters()]
        if self.buffers:
            tensors += [b.detach() for b in self.model.buffers() if b.is_floating_point()]
        return tensors

    def on_train_begin(self, trainer):
        if trainer.model is not self.model:
            raise ValueError("the EMA callback averages another model than the trainer's")
        if self.average is None:
            self.average = [t.clone() for t in self._tensors()]

    @torch.no_grad()
    def on_step_end(self, trainer, logs):
        if self._swapped:
            raise RuntimeError("the model holds the averaged weights: leave ema.averaged() first")
        for avg, t in zip(self.average, self._tensors()):
            avg.lerp_(t, 1.0 - self.decay)
        self.updates += 1

    @torch.no_grad()
    def _swap(self) -> None:
        for avg, t in zip(self.average, self._tensors()):
            kept = t.clone()
            t.copy_(avg)
            avg.copy_(kept)
        self._swapped = not self._swapped

    def averaged(self):
        """A context in which the model holds the averaged weights (restored on exit)."""
        import contextlib

        if self.average is None:
            raise RuntimeError("nothing averaged yet: train with this callback first")
        if self._swapped:
            raise RuntimeError("the model already holds the averaged weights")

        @contextlib.contextmanager
        def swapped():
            self._swap()
            try:
                yield self.model
            finally:
                self._swap()

        return swapped()

    def state_dict(self):
        average = None if self.average is None else [a.clone() for a in self.average]
        return {"decay": self.decay, "updates": self.updates, "average": average}

    def load_state_dict(self, state):
        if state["decay"] != self.decay:
            raise ValueError(f"the checkpoint's EMA has decay {state['decay']}, this one {self.decay}")
        average = state["average"]
        if average is not None:
            tensors = self._tensors()
            if [tuple(a.shape) for a in average] != [tuple(t.shape) for t in tensors]:
                raise ValueError("the checkpoint's EMA averages tensors of other shapes than the model's")
            average = [a.to(t.device, t.dtype) for a, t in zip(average, tensors)]
        self.average, self.updates = average, state["updates"]


class Evaluate(Callback):
    """Every ``every`` steps (default: at the end of each epoch) call ``fn(model)``, with the model in
    eval mode and without gradients, and keep a row ``{"step", "epoch", **metrics}`` in ``rows``:
    a metric may be anything one can compute from the model (Keras-style metrics need not be
    tensor expressions). ``fn`` returns a number (kept as ``"metric"``) or a dict of numbers.
    """

    def __init__(self, fn: Callable, *, every: int | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be callable (model -> number or dict), got {type(fn).__name__}")
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"every must be a positive int or None (once per epoch), got {every!r}")
        self.fn, self.every = fn, every
        self.rows: list[dict] = []

    def __getitem__(self, key: str) -> list[float]:
        return [row[key] for row in self.rows if key in row]

    def latest(self, step: int) -> dict | None:
        """The row evaluated at ``step``, if there is one."""
        return self.rows[-1] if self.rows and self.rows[-1]["step"] == step else None

    def on_step_end(self, trainer, logs):
        if trainer.step % (self.every or trainer.steps_per_epoch) == 0:
            self.evaluate(trainer)

    def evaluate(self, trainer) -> dict:
        model, was_training = trainer.model, trainer.model.training
        model.eval()
        try:
            with torch.no_grad():
                out = self.fn(model)
        finally:
            model.train(was_training)
        metrics = out if isinstance(out, dict) else {"metric": out}
        row = {"step": trainer.step, "epoch": trainer.step / trainer.steps_per_epoch}
        for key, value in metrics.items():
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"metric {key!r} must be a number, got {type(value).__name__}")
            row[key] = float(value)
        self.rows.append(row)
        return row

    def state_dict(self):
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state):
        self.rows = [dict(r) for r in state["rows"]]


class _BestSoFar(Callback):
    """Follow one metric of an :class:`Evaluate` (given, and earlier in the callbacks) or of a
    function ``model -> number`` (evaluated here, every ``every`` steps); keep the best value.

    A value improves on the best when it is lower by more than ``min_delta`` (``mode="min"``) or
    higher by more than ``min_delta`` (``mode="max"``); a nan never improves.
    """

    def __init__(self, source, key: str | None, mode: str, min_delta: float, every: int | None):
        from .checks import non_negative

        if isinstance(source, Evaluate):
            if every is not None:
                raise ValueError("every belongs to the Evaluate callback given as the source")
            if key is None:
                raise ValueError("name the key of the Evaluate callback's metrics to follow")
            self.evaluate, self._owns = source, False
        elif callable(source):
            self.evaluate, self._owns = Evaluate(source, every=every), True
        else:
            raise TypeError("source must be an Evaluate callback or a function model -> number, "
                            f"got {type(source).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        min_delta = non_negative(min_delta, "min_delta")
        self.key, self.mode, self.min_delta = key or "metric", mode, min_delta
        self.best: float | None = None
        self.best_step: int | None = None

    def on_train_begin(self, trainer):
        if self._owns:
            self.evaluate.on_train_begin(trainer)
            return
        index = {id(cb): i for i, cb in enumerate(trainer.callbacks)}
        if id(self.evaluate) not in index or index[id(self.evaluate)] > index[id(self)]:
            raise ValueError(f"the Evaluate callback that {type(self).__name__} follows must be "
                             "among the trainer's callbacks, before it")

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return value == value  # anything but nan
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def _check(self, trainer, logs) -> bool | None:
        """None if nothing was evaluated at this step, else whether the value improved (and then
        it is the new best)."""
        if self._owns:
            self.evaluate.on_step_end(trainer, logs)
        row = self.evaluate.latest(trainer.step)
        if row is None:
            return None
        if self.key not in row:
            raise KeyError(f"no metric {self.key!r} among {sorted(set(row) - {'step', 'epoch'})}")
        if not self._improves(row[self.key]):
            return False
        self.best, self.best_step = row[self.key], trainer.step
        return True

    def state_dict(self):
        state = {"best": self.best, "best_step": self.best_step}
        if self._owns:
            state["evaluate"] = self.evaluate.state_dict()
        return state

    def load_state_dict(self, state):
        self.best, self.best_step = state["best"], state["best_step"]
        if self._owns:
            self.evaluate.load_state_dict(state["evaluate"])


class EarlyStopping(_BestSoFar):
    """Stop once ``patience`` evaluations in a row have not improved on the best (see
    :class:`_BestSoFar` for the source and ``mode``/``min_delta``), and with ``restore_best`` put
    the best evaluation's weights back in the model when training ends (stopped or not).

    A run that stopped stays stopped when it is resumed from its checkpoint.
    """

    def __init__(self, source, key: str | None = None, *, patience: int, mode: str = "min",
                 min_delta: float = 0.0, every: int | None = None, restore_best: bool = True):
        super().__init__(source, key, mode, min_delta, every)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive int, got {patience!r}")
        self.patience, self.restore_best = patience, restore_best
        self.wait = 0
        self.stopped_step: int | None = None
        self.best_weights: dict | None = None

    def on_train_begin(self, trainer):
        super().on_train_begin(trainer)
        if self.stopped_step is not None:
            trainer.stop_training = True

    def on_step_end(self, trainer, logs):
        improved = self._check(trainer, logs)
        if improved is None:
            return
        if improved:
            self.wait = 0
            if self.restore_best:
                self.best_weights = {k: v.detach().clone()
                                     for k, v in trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_step = trainer.step
            trainer.stop_training = True

    def on_train_end(self, trainer):
        if self.restore_best and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {**super().state_dict(), "wait": self.wait, "stopped_step": self.stopped_step,
                "best_weights": self.best_weights}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.wait, self.stopped_step = state["wait"], state["stopped_step"]
        self.best_weights = state["best_weights"]


class TimeBudget(Callback):
    """Stop once ``seconds`` of wall-clock training time have passed (counted across resumes from
    a checkpoint): a run sized for a fast device ends on time on a slow one. ``stopped_step`` is
    the step it stopped at (``None`` while within budget) and ``elapsed`` the seconds trained. The
    clock is the host's: on a GPU it may run a few queued steps ahead of the device."""

    def __init__(self, seconds: float):
        from .checks import positive

        self.seconds = positive(seconds, "seconds")
        self.elapsed = 0.0
        self.stopped_step: int | None = None
        self._start: float | None = None
        self._before = 0.0

    def on_train_begin(self, trainer):
        self._start, self._before = time.monotonic(), self.elapsed
        if self.stopped_step is not None:
            trainer.stop_training = True

    def on_step_end(self, trainer, logs):
        self.elapsed = self._before + time.monotonic() - self._start
        if self.elapsed >= self.seconds and self.stopped_step is None:
            self.stopped_step = trainer.step
            trainer.stop_training = True

    def state_dict(self):
        return {"elapsed": self.elapsed, "stopped_step": self.stopped_step}

    def load_state_dict(self, state):
        self.elapsed, self.stopped_step = state["elapsed"], state["stopped_step"]


class SaveBest(_BestSoFar):
    """Write a checkpoint to ``path`` (with :meth:`Trainer.save_checkpoint`, atomically) each time
    the followed metric improves (see :class:`_BestSoFar`): the post's keep-the-best-model callback.
    The file's ``"model"`` entry holds the best weights. Put it last among the callbacks, so that the
    states it saves of the others are this step's.
    """

    def __init__(self, source, key: str | None = None, *, path: str | os.PathLike,
                 mode: str = "min", min_delta: float = 0.0, every: int | None = None):
        super().__init__(source, key, mode, min_delta, every)
        self.path = Path(path)

    def on_train_begin(self, trainer):
        super().on_train_begin(trainer)
        if trainer.checkpoint is not None and trainer.checkpoint.resolve() == self.path.resolve():
            raise ValueError(f"SaveBest would overwrite the trainer's own checkpoint {self.path}")

    def on_step_end(self, trainer, logs):
        if self._check(trainer, logs):
            trainer.save_checkpoint(self.path)


class InterruptAt(Callback):
    """Raise ``KeyboardInterrupt`` at the end of step ``step``, as a Ctrl-C during it would: the
    trainer writes its checkpoint and stops. To check that an interrupted run resumes exactly;
    put it last, so that the other callbacks have seen the step."""

    def __init__(self, step: int):
        from .checks import positive_int

        self.step = positive_int(step, "step")

    def on_step_end(self, trainer, logs):
        if trainer.step == self.step:
            raise KeyboardInterrupt


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
                 checkpoint_seconds: float | None = None, log_every: int | None = None,
                 progress: bool | None = None,
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
        self._own_file = checkpoint is None and bool(_FOLDERS)
        if self._own_file:  # inside checkpoints(): a file of this trainer's own
            checkpoint, checkpoint_seconds = _FOLDERS[-1].next_path(), _FOLDERS[-1].seconds
        if checkpoint_every is not None and (checkpoint is None or checkpoint_every < 1):
            raise ValueError("checkpoint_every needs a checkpoint path and must be >= 1")
        if checkpoint_seconds is not None and (checkpoint is None or not checkpoint_seconds > 0):
            raise ValueError("checkpoint_seconds needs a checkpoint path and must be > 0")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.batch_size, self.callbacks = batch_size, list(callbacks)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every, self.checkpoint_seconds = checkpoint_every, checkpoint_seconds
        self._saved_at = time.monotonic()
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
        """Restore a :meth:`state_dict`; a :class:`CheckpointError` (before anything is restored)
        if it is not one, or is one of another run (data shapes, batch size) or model."""
        if not isinstance(state, dict) or not {"run", "model", "optimizer"} <= state.keys():
            got = sorted(state)[:5] if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"not a Trainer checkpoint (a dict with 'run', 'model' and "
                                  f"'optimizer' entries and more), got {got}")
        if state["run"] != self._fingerprint():
            raise CheckpointError(f"the checkpoint belongs to another run ({state['run']}), not "
                                  f"this one ({self._fingerprint()})")
        differences = _differences(state["model"], self.model.state_dict())
        if differences:
            more = f" and {len(differences) - 3} more" if len(differences) > 3 else ""
            raise CheckpointError("the checkpoint was written for another model: "
                                  + "; ".join(differences[:3]) + more)
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
        if path == self.checkpoint:
            self._saved_at = time.monotonic()
        return path

    def _resume(self) -> None:
        """Load the checkpoint if there is one; a trainer given its file by :func:`checkpoints`
        loads it only before its first fit (later fits go on from the state in memory)."""
        if self._own_file and self.step > 0:
            return
        if self.checkpoint is None or not self.checkpoint.exists():
            return
        try:  # RNG states must stay on the CPU; tensors are moved to the device as they are restored
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - whatever torch.load fails with, the file is unreadable
            raise CheckpointError(f"checkpoint {self.checkpoint} cannot be read (empty, truncated or "
                                  f"not a checkpoint: {type(err).__name__}: {err}); "
                                  f"{_START_AFRESH}") from err
        try:
            self.load_state_dict(state)
        except CheckpointError as err:
            raise CheckpointError(f"checkpoint {self.checkpoint}: {err}; {_START_AFRESH}") from err

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
        """One optimiser step on ``batch``. The optimiser gets a closure that recomputes the loss
        and its gradients, so optimisers that evaluate more than once per step (Heun, L-BFGS)
        train through the same loop; the logged loss and metrics are those of the first
        evaluation, at the step's starting point."""
        self.model.train()
        first: dict = {}

        def closure():
            self.optimizer.zero_grad(set_to_none=True)
            out = self.loss_fn(self.model, *batch)
            loss, metrics = out if isinstance(out, tuple) else (out, {})
            if loss.ndim != 0:
                raise ValueError(f"loss_fn must return a scalar loss, got shape {tuple(loss.shape)}")
            loss.backward()
            if not first:
                first.update(loss=loss.detach(), **{k: v.detach() for k, v in metrics.items()})
            return loss

        self.optimizer.step(closure)
        if not first:
            raise RuntimeError(f"{type(self.optimizer).__name__}.step(closure) never called the "
                               "closure: the trainer's optimiser must evaluate it")
        for key, value in first.items():
            self._sums[key] = self._sums.get(key, 0.0) + value.float()
        self._count += 1
        return first

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
        for cb in self.callbacks:  # before the last checkpoint: it holds e.g. the restored best weights
            cb.on_train_end(self)
        if self.checkpoint is not None:
            self.save_checkpoint()
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
        elif self.checkpoint_seconds and time.monotonic() - self._saved_at >= self.checkpoint_seconds:
            self.save_checkpoint()


def _differences(saved: dict, own: dict) -> list[str]:
    """How the model state dict ``saved`` does not fit ``own``: entries missing, unexpected, or of
    another shape."""
    def shape(v):
        return tuple(getattr(v, "shape", ()))

    return ([f"{k} missing" for k in own if k not in saved]
            + [f"{k} unexpected" for k in saved if k not in own]
            + [f"{k} of shape {shape(saved[k])}, the model's is {shape(own[k])}"
               for k in own if k in saved and shape(saved[k]) != shape(own[k])])


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


def adam(params, lr: float, **kwargs) -> torch.optim.Adam:
    """``torch.optim.Adam(params, lr, **kwargs)`` with its fused kernel where the parameters live
    on a device that has one (CPU, CUDA): the same update in one kernel per step instead of a
    loop over tensors in Python (a third less time per step for Part III's models on this CPU)."""
    params = [dict(g, params=list(g["params"])) if isinstance(g, dict) else g for g in params]
    tensors = [t for g in params for t in (g["params"] if isinstance(g, dict) else [g])]
    fused = True if tensors and all(t.device.type in ("cpu", "cuda") for t in tensors) else None
    return torch.optim.Adam(params, lr=lr, fused=fused, **kwargs)


def fit_adam(model: torch.nn.Module, loss_fn: Callable, data, *, lr: float, batch_size: int,
             epochs: int | None = None, steps: int | None = None, threads: int | None = 1,
             **kwargs) -> History:
    """The glue most experiments share: train ``model`` with :func:`adam` at ``lr`` through
    :func:`fit`, on ``threads`` CPU threads when the data is on the CPU (one by default: see
    :func:`kexue.runtime.cpu_threads`; ``None`` keeps the current number). ``kwargs`` go to the
    :class:`Trainer` (callbacks, seed, log_every, ...)."""
    from . import runtime
    from .checks import positive

    optimizer = adam(model.parameters(), positive(lr, "lr"))
    data_device = (data if isinstance(data, torch.Tensor) else data[0]).device
    threads_block = (contextlib.nullcontext() if threads is None
                     else runtime.cpu_threads(threads, data_device))
    with threads_block:
        return fit(model, optimizer, loss_fn, data, batch_size=batch_size, epochs=epochs,
                   steps=steps, **kwargs)


def fit(model, optimizer, loss_fn, data, *, batch_size: int, epochs: int | None = None,
        steps: int | None = None, **kwargs) -> History:
    """Shorthand: ``Trainer(model, optimizer, loss_fn, data, batch_size=..., **kwargs).fit(...)``."""
    return Trainer(model, optimizer, loss_fn, data, batch_size=batch_size, **kwargs).fit(
        epochs=epochs, steps=steps)
