"""The callbacks of kexue.train beyond the loop itself: learning-rate monitor, EMA of the weights,
Evaluate, early stopping, best-model checkpoint; each one's state resumes exactly."""
import math

import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from kexue import train


def make_problem(seed=0, *, n=96, batchnorm=False):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=gen)
    y = x @ torch.randn(6, 1, generator=gen) + 0.1 * torch.randn(n, 1, generator=gen)
    torch.manual_seed(seed)
    middle = torch.nn.BatchNorm1d(16) if batchnorm else torch.nn.Dropout(0.2)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), middle, torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt, (x, y)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def tensors_equal(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


class Snapshots(train.Callback):
    """The parameters after every step (and before the first)."""

    def __init__(self, model):
        self.model, self.params = model, []

    def on_train_begin(self, trainer):
        self.params.append([p.detach().clone() for p in self.model.parameters()])

    def on_step_end(self, trainer, logs):
        self.params.append([p.detach().clone() for p in self.model.parameters()])


# -- learning rates -------------------------------------------------------------------------------
def test_learning_rate_monitor_records_the_rate_each_step_used():
    model, opt, data = make_problem()
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 7], gamma=0.1)
    monitor = train.LearningRateMonitor()
    train.fit(model, opt, mse, data, batch_size=16, steps=10, progress=False,
              callbacks=[monitor, train.StepScheduler(sched)])
    # the post's piecewise-constant schedule, per step: 1e-2 for steps 1-3, 1e-3 for 4-7, then 1e-4
    expected = [1e-2] * 3 + [1e-3] * 4 + [1e-4] * 3
    assert monitor.steps == list(range(1, 11))
    assert monitor.lr == pytest.approx(expected, rel=1e-12)


def test_learning_rate_monitor_must_come_before_the_scheduler():
    model, opt, data = make_problem()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    with pytest.raises(ValueError, match="before the StepScheduler"):
        train.fit(model, opt, mse, data, batch_size=16, steps=2, progress=False,
                  callbacks=[train.StepScheduler(sched), train.LearningRateMonitor()])


def test_step_scheduler_drives_a_warmup_then_cosine_schedule_as_its_closed_form():
    from kexue.optim.layers import warmup_cosine

    model, opt, data = make_problem()
    lr, warmup, total, floor = 1e-2, 5, 30, 0.1
    monitor = train.LearningRateMonitor()
    train.fit(model, opt, mse, data, batch_size=16, steps=total, progress=False,
              callbacks=[monitor, train.StepScheduler(warmup_cosine(opt, warmup=warmup, total=total,
                                                                    floor=floor))])
    closed = [lr * (t + 1) / warmup if t < warmup else
              lr * (floor + (1 - floor) * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / 2)
              for t in range(total)]
    # torch's CosineAnnealingLR is a recursion; it drifts from the closed form by round-off only
    assert monitor.lr == pytest.approx(closed, rel=1e-10)


# -- EMA -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("batchnorm", [False, True])
def test_ema_matches_torch_averaged_model(batchnorm):
    decay = 0.9
    model, opt, data = make_problem(batchnorm=batchnorm)
    reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=batchnorm)
    reference.update_parameters(model)  # the weights before training

    class UpdateReference(train.Callback):
        def on_step_end(self, trainer, logs):
            reference.update_parameters(trainer.model)

    ema = train.EMA(model, decay, buffers=batchnorm)
    train.fit(model, opt, mse, data, batch_size=16, steps=25, progress=False,
              callbacks=[ema, UpdateReference()])
    ours = ema.average
    theirs = [p.detach() for p in reference.module.parameters()]
    if batchnorm:  # running mean and variance are averaged too; the batch counter is the model's
        theirs += [b for b in reference.module.buffers() if b.is_floating_point()]
    assert len(ours) == len(theirs) == (8 if batchnorm else 4)  # BatchNorm: 2 parameters, 2 buffers
    assert max(float((a - b).abs().max()) for a, b in zip(ours, theirs)) < 1e-6
    assert ema.updates == 25


def test_ema_is_the_unrolled_weighted_sum_of_the_iterates():
    decay, steps = 0.8, 12
    model, opt, data = make_problem()
    snaps = Snapshots(model)
    ema = train.EMA(model, decay)
    train.fit(model, opt, mse, data, batch_size=16, steps=steps, progress=False, callbacks=[snaps, ema])
    weights = [decay ** steps] + [(1 - decay) * decay ** (steps - s) for s in range(1, steps + 1)]
    assert sum(weights) == pytest.approx(1.0, abs=1e-12)
    for i, avg in enumerate(ema.average):
        unrolled = sum(w * snap[i].double() for w, snap in zip(weights, snaps.params))
        assert torch.allclose(avg.double(), unrolled, atol=1e-6)


def test_ema_averaged_context_swaps_the_weights_in_and_back():
    model, opt, (x, y) = make_problem()
    ema = train.EMA(model, 0.9)
    with pytest.raises(RuntimeError, match="nothing averaged yet"):
        ema.averaged()
    trainer = train.Trainer(model, opt, mse, (x, y), batch_size=16, callbacks=[ema], progress=False)
    trainer.fit(steps=10)
    trained = [p.detach().clone() for p in model.parameters()]
    average = [a.clone() for a in ema.average]
    assert not tensors_equal(trained, average)
    with ema.averaged() as m:
        assert m is model
        assert tensors_equal([p.detach() for p in model.parameters()], average)
        with pytest.raises(RuntimeError, match="already holds the averaged weights"):
            ema.averaged()
        with pytest.raises(RuntimeError, match="leave ema.averaged"):
            ema.on_step_end(trainer, {})
    assert tensors_equal([p.detach() for p in model.parameters()], trained)
    assert tensors_equal(ema.average, average)
    with pytest.raises(ZeroDivisionError):  # an error inside the block still restores the weights
        with ema.averaged():
            1 / 0
    assert tensors_equal([p.detach() for p in model.parameters()], trained)


def test_ema_rejects_bad_arguments_and_foreign_states():
    model, opt, data = make_problem()
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        train.EMA([p for p in model.parameters()], 0.9)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"decay must be in \(0, 1\)"):
            train.EMA(model, bad)
    with pytest.raises(ValueError, match="finite"):
        train.EMA(model, float("nan"))
    other, _, _ = make_problem(seed=1)
    with pytest.raises(ValueError, match="averages another model"):
        train.fit(model, opt, mse, data, batch_size=16, steps=1, callbacks=[train.EMA(other, 0.9)],
                  progress=False)
    ema = train.EMA(model, 0.9)
    train.fit(model, opt, mse, data, batch_size=16, steps=2, callbacks=[ema], progress=False)
    with pytest.raises(ValueError, match="decay 0.9, this one 0.99"):
        train.EMA(model, 0.99).load_state_dict(ema.state_dict())
    small = torch.nn.Sequential(torch.nn.Linear(6, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="other shapes"):
        train.EMA(small, 0.9).load_state_dict(ema.state_dict())


# -- Evaluate ------------------------------------------------------------------------------------
def test_evaluate_runs_in_eval_mode_without_gradients_at_its_interval():
    seen = []

    def fn(model):
        seen.append((model.training, torch.is_grad_enabled()))
        return torch.tensor(float(len(seen)))

    model, opt, data = make_problem()
    every_4 = train.Evaluate(fn, every=4)
    per_epoch = train.Evaluate(lambda m: {"a": 1, "b": 2.5})
    trainer = train.Trainer(model, opt, mse, data, batch_size=16, progress=False,
                            callbacks=[every_4, per_epoch])
    trainer.fit(steps=13)
    assert [r["step"] for r in every_4.rows] == [4, 8, 12]
    assert every_4["metric"] == [1.0, 2.0, 3.0] and all(s == (False, False) for s in seen)
    assert model.training  # put back in training mode
    assert per_epoch.rows == [{"step": 6, "epoch": 1.0, "a": 1.0, "b": 2.5},
                              {"step": 12, "epoch": 2.0, "a": 1.0, "b": 2.5}]
    assert every_4.latest(12) is every_4.rows[-1] and every_4.latest(13) is None


def test_evaluate_rejects_bad_arguments_and_non_numbers():
    with pytest.raises(TypeError, match="fn must be callable"):
        train.Evaluate(3.0)
    with pytest.raises(ValueError, match="every must be a positive int"):
        train.Evaluate(lambda m: 1.0, every=0)
    model, opt, data = make_problem()
    with pytest.raises(TypeError, match="metric 'v' must be a number, got list"):
        train.fit(model, opt, mse, data, batch_size=16, steps=2, progress=False,
                  callbacks=[train.Evaluate(lambda m: {"v": [1.0]}, every=1)])


# -- early stopping ------------------------------------------------------------------------------
def reference_stop(values, patience, mode="min", min_delta=0.0):
    """An independent statement of the rule: stop at the first evaluation that ends a run of
    ``patience`` evaluations none of which beat the best before it by more than min_delta."""
    sign = 1 if mode == "min" else -1
    best, best_i, bad = math.inf, None, 0
    for i, v in enumerate(values):
        if sign * v < best - min_delta:
            best, best_i, bad = sign * v, i, 0
        else:
            bad += 1
            if bad == patience:
                return i, best_i
    return None, best_i


SEQUENCE = [5.0, 4.0, 3.0, 3.5, 2.9, 3.1, 3.2, 2.95, 3.3, 1.0, 0.5]


def test_early_stopping_on_a_synthetic_loss_sequence_restores_the_best_weights():
    feed = iter(SEQUENCE)
    model, opt, data = make_problem()
    snaps = Snapshots(model)
    stopper = train.EarlyStopping(lambda m: next(feed), patience=3, every=2)
    trainer = train.Trainer(model, opt, mse, data, batch_size=16, progress=False,
                            callbacks=[snaps, stopper])
    trainer.fit(steps=100)
    # evaluations at steps 2, 4, 6, ...; the best is the 5th (2.9, step 10); three worse ones follow
    assert stopper.best == 2.9 and stopper.best_step == 10
    assert stopper.stopped_step == 16 and trainer.step == 16
    assert reference_stop(SEQUENCE, 3) == (7, 4)
    assert tensors_equal([p.detach() for p in model.parameters()], snaps.params[10])


@pytest.mark.parametrize("mode,min_delta", [("min", 0.0), ("min", 0.05), ("max", 0.0), ("max", 0.2)])
def test_early_stopping_follows_the_rule_on_random_sequences(mode, min_delta):
    from kexue.optim.layers import replay_early_stopping

    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        values = torch.randn(30, generator=gen).cumsum(0).tolist()
        for patience in (1, 3, 6):
            stop, best = reference_stop(values, patience, mode, min_delta)
            assert replay_early_stopping(values, patience=patience, mode=mode,
                                         min_delta=min_delta) == {"stop": stop, "best": best}


def test_early_stopping_treats_nan_as_no_improvement():
    from kexue.optim.layers import replay_early_stopping

    nan = float("nan")
    assert replay_early_stopping([nan, 2.0, nan, nan, 1.0], patience=2) == {"stop": 3, "best": 1}
    assert replay_early_stopping([nan, nan], patience=2) == {"stop": 1, "best": None}


def test_early_stopping_in_a_small_real_run_stops_once_the_validation_loss_rises():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, 1, generator=gen)
    x, xv = torch.randn(24, 6, generator=gen), torch.randn(400, 6, generator=gen)
    y = x @ w + 0.5 * torch.randn(24, 1, generator=gen)  # few, noisy samples: it overfits
    yv = xv @ w + 0.5 * torch.randn(400, 1, generator=gen)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 128), torch.nn.Tanh(), torch.nn.Linear(128, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    evaluate = train.Evaluate(lambda m: {"val_loss": mse(m, xv, yv), "train_loss": mse(m, x, y)},
                              every=5)
    stopper = train.EarlyStopping(evaluate, "val_loss", patience=5)
    trainer = train.Trainer(model, opt, mse, (x, y), batch_size=8, callbacks=[evaluate, stopper],
                            progress=False)
    trainer.fit(steps=3000)
    assert stopper.stopped_step is not None and trainer.step == stopper.stopped_step < 3000
    val = evaluate["val_loss"]
    best_index = val.index(min(val))
    assert stopper.best == min(val) and stopper.best_step == evaluate.rows[best_index]["step"]
    assert len(val) == best_index + 1 + 5  # five worse evaluations after the best, then the stop
    assert evaluate["train_loss"][-1] < evaluate["train_loss"][best_index]  # still fitting the noise
    with torch.no_grad():
        assert float(mse(model, xv, yv)) == pytest.approx(stopper.best, rel=1e-6)  # best restored


def test_early_stopping_checks_its_arguments_and_its_source():
    with pytest.raises(ValueError, match="patience must be a positive int"):
        train.EarlyStopping(lambda m: 1.0, patience=0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        train.EarlyStopping(lambda m: 1.0, patience=1, mode="lowest")
    with pytest.raises(ValueError, match="min_delta must be >= 0"):
        train.EarlyStopping(lambda m: 1.0, patience=1, min_delta=-1)
    with pytest.raises(TypeError, match="source must be an Evaluate callback or a function"):
        train.EarlyStopping("val_loss", patience=1)
    evaluate = train.Evaluate(lambda m: {"v": 1.0}, every=1)
    with pytest.raises(ValueError, match="name the key"):
        train.EarlyStopping(evaluate, patience=1)
    with pytest.raises(ValueError, match="every belongs to the Evaluate"):
        train.EarlyStopping(evaluate, "v", patience=1, every=3)
    model, opt, data = make_problem()
    for callbacks in ([train.EarlyStopping(evaluate, "v", patience=1)],
                      [train.EarlyStopping(evaluate, "v", patience=1), evaluate]):
        with pytest.raises(ValueError, match="must be among the trainer's callbacks, before it"):
            train.fit(model, opt, mse, data, batch_size=16, steps=2, callbacks=callbacks,
                      progress=False)
    with pytest.raises(KeyError, match="no metric 'w' among \\['v'\\]"):
        train.fit(model, opt, mse, data, batch_size=16, steps=2, progress=False,
                  callbacks=[evaluate, train.EarlyStopping(evaluate, "w", patience=1)])


# -- resuming: an interrupted run ends as an uninterrupted one ------------------------------------
def run_with_callbacks(model, opt, data, *, checkpoint=None, extra=(), best_path=None):
    gen = torch.Generator().manual_seed(0)
    torch.randn(96, 6, generator=gen)
    w = torch.randn(6, 1, generator=gen)  # make_problem's linear map
    xv = torch.randn(50, 6, generator=gen)
    yv = xv @ w + 0.1 * torch.randn(50, 1, generator=gen)
    ema = train.EMA(model, 0.9)
    evaluate = train.Evaluate(lambda m: {"val": mse(m, xv, yv)}, every=3)
    stopper = train.EarlyStopping(evaluate, "val", patience=2)
    callbacks = [ema, evaluate, stopper]
    if best_path is not None:
        callbacks.append(train.SaveBest(evaluate, "val", path=best_path))
    trainer = train.Trainer(model, opt, mse, data, batch_size=16, seed=1, checkpoint=checkpoint,
                            callbacks=callbacks + list(extra), progress=False)
    trainer.fit(steps=300)
    return trainer, ema, evaluate, stopper


# the reference run's best evaluation is at step 48 and it stops at 54; 6 steps make an epoch:
# interrupt mid-epoch, at an epoch's end, and while early stopping is waiting after the best
@pytest.mark.parametrize("interrupt_at", [4, 30, 50])
def test_ema_and_early_stopping_resume_exactly(tmp_path, interrupt_at):
    model, opt, data = make_problem()
    ref, ref_ema, ref_eval, ref_stop = run_with_callbacks(model, opt, data)
    assert (ref_stop.best_step, ref_stop.stopped_step) == (48, 54)

    ckpt = tmp_path / "run.pt"
    model2, opt2, _ = make_problem()
    with pytest.raises(KeyboardInterrupt):
        run_with_callbacks(model2, opt2, data, checkpoint=ckpt,
                           extra=[train.InterruptAt(interrupt_at)])
    torch.manual_seed(12345)
    model3, opt3, _ = make_problem(seed=5)
    resumed, ema, evaluate, stopper = run_with_callbacks(model3, opt3, data, checkpoint=ckpt)

    assert resumed.step == ref.step and resumed.history.rows == ref.history.rows
    assert tensors_equal(list(model3.state_dict().values()), list(model.state_dict().values()))
    assert tensors_equal(ema.average, ref_ema.average) and ema.updates == ref_ema.updates
    assert evaluate.rows == ref_eval.rows
    assert (stopper.best, stopper.best_step, stopper.stopped_step, stopper.wait) == \
        (ref_stop.best, ref_stop.best_step, ref_stop.stopped_step, ref_stop.wait)


def test_a_run_that_stopped_early_stays_stopped_when_resumed(tmp_path):
    model, opt, data = make_problem()
    ckpt = tmp_path / "run.pt"
    trainer, _, evaluate, stopper = run_with_callbacks(model, opt, data, checkpoint=ckpt)
    stopped, rows = stopper.stopped_step, list(evaluate.rows)
    model2, opt2, _ = make_problem(seed=2)
    again, _, evaluate2, stopper2 = run_with_callbacks(model2, opt2, data, checkpoint=ckpt)
    assert again.step == stopped and evaluate2.rows == rows and stopper2.stopped_step == stopped
    assert tensors_equal(list(model2.state_dict().values()), list(model.state_dict().values()))


# -- best-model checkpoint -----------------------------------------------------------------------
def test_save_best_writes_the_best_weights_only_when_they_improve(tmp_path):
    best = tmp_path / "best.pt"
    model, opt, data = make_problem()
    writes = []

    class Watch(train.Callback):
        def on_step_end(self, trainer, logs):
            if best.exists():
                step = torch.load(best, weights_only=False)["step"]
                if not writes or writes[-1] != step:
                    writes.append(step)

    trainer, _, evaluate, stopper = run_with_callbacks(model, opt, data, best_path=best,
                                                       extra=[Watch()])
    improving, low = [], math.inf
    for row in evaluate.rows:
        if row["val"] < low:
            improving.append(row["step"])
            low = row["val"]
    assert writes == improving and writes[-1] == stopper.best_step
    saved = torch.load(best, weights_only=False)
    # early stopping restored the same best weights that the file holds
    assert tensors_equal(list(saved["model"].values()), list(model.state_dict().values()))


def test_save_best_refuses_the_trainers_own_checkpoint(tmp_path):
    model, opt, data = make_problem()
    saver = train.SaveBest(lambda m: 1.0, path=tmp_path / "c.pt", every=1)
    with pytest.raises(ValueError, match="would overwrite the trainer's own checkpoint"):
        train.fit(model, opt, mse, data, batch_size=16, steps=2, checkpoint=tmp_path / "c.pt",
                  callbacks=[saver], progress=False)


def test_save_best_resumed_does_not_overwrite_a_better_file(tmp_path):
    values = [3.0, 1.0, 2.0, 2.5, 1.5, 1.2]
    feed = iter(values)
    best, ckpt = tmp_path / "best.pt", tmp_path / "run.pt"
    model, opt, data = make_problem()
    saver = train.SaveBest(lambda m: next(feed), path=best, every=1)
    with pytest.raises(KeyboardInterrupt):
        train.fit(model, opt, mse, data, batch_size=16, steps=6, checkpoint=ckpt, progress=False,
                  callbacks=[saver, train.InterruptAt(3)])
    assert torch.load(best, weights_only=False)["step"] == 2
    saver2 = train.SaveBest(lambda m: next(feed), path=best, every=1)
    train.fit(model, opt, mse, data, batch_size=16, steps=6, checkpoint=ckpt, progress=False,
              callbacks=[saver2])
    # 2.5, 1.5, 1.2 (steps 4-6) improve on each other but not on the best before the interruption
    assert saver2.best == 1.0 and torch.load(best, weights_only=False)["step"] == 2


# -- time budget ----------------------------------------------------------------------------------
class SlowSteps(train.Callback):
    """Each step takes at least ``seconds`` of wall-clock time."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_step_end(self, trainer, logs):
        import time
        time.sleep(self.seconds)


def test_time_budget_stops_a_run_once_its_seconds_are_spent_and_a_resume_stays_stopped(tmp_path):
    model, opt, data = make_problem()
    budget = train.TimeBudget(0.2)
    trainer = train.Trainer(model, opt, mse, data, batch_size=16, progress=False,
                            callbacks=[SlowSteps(0.03), budget], checkpoint=tmp_path / "run.pt")
    trainer.fit(steps=1000)
    # steps of >= 30 ms each: the 0.2 s budget is spent within 7 steps, and at most ~1 s later
    assert budget.stopped_step == trainer.step and 2 <= trainer.step <= 7
    assert 0.2 <= budget.elapsed < 1.0
    trainer.save_checkpoint()
    model2, opt2, _ = make_problem()
    again = train.TimeBudget(0.2)
    resumed = train.Trainer(model2, opt2, mse, data, batch_size=16, progress=False,
                            callbacks=[SlowSteps(0.03), again], checkpoint=tmp_path / "run.pt")
    resumed.fit(steps=1000)
    assert again.stopped_step == budget.stopped_step and resumed.step == trainer.step


def test_time_budget_counts_the_time_before_a_resume():
    budget = train.TimeBudget(10.0)
    budget.load_state_dict({"elapsed": 9.99, "stopped_step": None})
    model, opt, data = make_problem()
    trainer = train.Trainer(model, opt, mse, data, batch_size=16, progress=False,
                            callbacks=[SlowSteps(0.02), budget])
    trainer.fit(steps=100)
    assert trainer.step == 1 and budget.stopped_step == 1 and budget.elapsed >= 10.0


def test_time_budget_checks_its_seconds():
    with pytest.raises(ValueError, match="seconds"):
        train.TimeBudget(0)
    with pytest.raises((ValueError, TypeError), match="seconds"):
        train.TimeBudget(float("nan"))
