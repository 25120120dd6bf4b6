import pytest
import torch

from kexue import train


def make_problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(96, 6, generator=gen)
    y = x @ torch.randn(6, 1, generator=gen) + 0.1 * torch.randn(96, 1, generator=gen)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Dropout(0.2), torch.nn.Tanh(),
                                torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt, (x, y)


def mse(model, x, y):
    err = model(x) - y
    return (err ** 2).mean(), {"mae": err.abs().mean()}


def states_equal(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(states_equal(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("interrupt_at", [5, 12, 17])  # mid-epoch, at an epoch end, mid-epoch
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, interrupt_at):
    model, opt, data = make_problem()
    reference = train.Trainer(model, opt, mse, data, batch_size=16, seed=1, progress=False)
    reference.fit(steps=30)

    ckpt = tmp_path / "run.pt"
    model2, opt2, data2 = make_problem()
    first = train.Trainer(model2, opt2, mse, data2, batch_size=16, seed=1, checkpoint=ckpt,
                          callbacks=[train.InterruptAt(interrupt_at)], progress=False)
    with pytest.raises(KeyboardInterrupt):
        first.fit(steps=30)
    assert ckpt.exists() and torch.load(ckpt, weights_only=False)["step"] == interrupt_at
    torch.manual_seed(12345)  # the resumed process starts from an unrelated RNG state
    model3, opt3, data3 = make_problem(seed=7)  # and from other weights
    resumed = train.Trainer(model3, opt3, mse, data3, batch_size=16, seed=1, checkpoint=ckpt,
                            progress=False)
    resumed.data = data  # same data as the reference
    resumed.fit(steps=30)

    assert states_equal(model.state_dict(), model3.state_dict())
    assert states_equal(opt.state_dict(), opt3.state_dict())
    assert reference.history.rows == resumed.history.rows


def test_interrupt_at_needs_a_step_number():
    with pytest.raises(ValueError, match="step must be a positive int, got 0"):
        train.InterruptAt(0)


def test_history_has_rows_per_epoch_and_the_loss_falls():
    model, opt, data = make_problem()
    history = train.fit(model, opt, mse, data, batch_size=16, epochs=8, progress=False)
    assert [row["epoch"] for row in history.rows] == [float(e) for e in range(1, 9)]
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert len(history["mae"]) == 8 and history.last("step") == 48
    with pytest.raises(KeyError, match="no metric 'acc'.*'loss'"):
        history["acc"]


def test_log_every_and_a_partial_last_row():
    model, opt, data = make_problem()
    history = train.fit(model, opt, mse, data, batch_size=16, steps=10, log_every=4, progress=False)
    assert history["step"] == [4, 8, 10]


def test_checkpoint_every_writes_atomically(tmp_path):
    model, opt, data = make_problem()
    ckpt = tmp_path / "c.pt"
    seen = []

    class Watch(train.Callback):
        def on_step_end(self, trainer, logs):
            seen.append(sorted(p.name for p in tmp_path.iterdir()))

    train.fit(model, opt, mse, data, batch_size=16, steps=9, checkpoint=ckpt, checkpoint_every=3,
              callbacks=[Watch()], progress=False)
    assert seen[2] == [] and seen[3] == ["c.pt"]  # written after step 3, never a .tmp left behind
    assert torch.load(ckpt, weights_only=False)["step"] == 9


def test_early_stop_flag():
    class StopAt(train.Callback):
        def on_step_end(self, trainer, logs):
            trainer.stop_training = trainer.step >= 4

    model, opt, data = make_problem()
    trainer = train.Trainer(model, opt, mse, data, batch_size=16, callbacks=[StopAt()], progress=False)
    trainer.fit(epochs=5)
    assert trainer.step == 4


def test_bad_arguments_are_named():
    model, opt, (x, y) = make_problem()
    with pytest.raises(ValueError, match="batch_size must be an int in \\[1, 96\\]"):
        train.Trainer(model, opt, mse, (x, y), batch_size=0)
    with pytest.raises(ValueError, match="disagree on their first dimension"):
        train.Trainer(model, opt, mse, (x, y[:-1]), batch_size=8)
    with pytest.raises(TypeError, match="data must be a tensor"):
        train.Trainer(model, opt, mse, [x.numpy()], batch_size=8)
    with pytest.raises(ValueError, match="checkpoint_every needs a checkpoint path"):
        train.Trainer(model, opt, mse, (x, y), batch_size=8, checkpoint_every=2)
    trainer = train.Trainer(model, opt, mse, (x, y), batch_size=8, progress=False)
    with pytest.raises(ValueError, match="exactly one of epochs or steps"):
        trainer.fit(epochs=1, steps=3)
    bad = train.Trainer(model, opt, lambda m, a, b: (m(a) - b) ** 2, (x, y), batch_size=8,
                        progress=False)
    with pytest.raises(ValueError, match="scalar loss"):
        bad.fit(steps=1)


def test_ctrl_c_mid_step_finishes_the_step_saves_and_resumes_exactly(tmp_path):
    import os
    import signal

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where a shell started us in the background
    model, opt, data = make_problem()
    train.Trainer(model, opt, mse, data, batch_size=16, seed=1, progress=False).fit(steps=20)

    calls = []

    def mse_with_ctrl_c(model, x, y):
        calls.append(1)
        if len(calls) == 9:  # SIGINT arrives in the middle of step 9's forward pass
            os.kill(os.getpid(), signal.SIGINT)
        return mse(model, x, y)

    ckpt = tmp_path / "run.pt"
    model2, opt2, data2 = make_problem()
    with pytest.raises(KeyboardInterrupt):
        train.Trainer(model2, opt2, mse_with_ctrl_c, data2, batch_size=16, seed=1, checkpoint=ckpt,
                      progress=False).fit(steps=20)
    assert torch.load(ckpt, weights_only=False)["step"] == 9
    model3, opt3, _ = make_problem(seed=3)
    train.Trainer(model3, opt3, mse, data, batch_size=16, seed=1, checkpoint=ckpt,
                  progress=False).fit(steps=20)
    assert states_equal(model.state_dict(), model3.state_dict())
    assert signal.getsignal(signal.SIGINT) is before  # the trainer put the handler back


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    ckpt = tmp_path / "c.pt"
    model, opt, data = make_problem()
    train.fit(model, opt, mse, data, batch_size=16, steps=3, checkpoint=ckpt, progress=False)
    model2, opt2, (x, y) = make_problem()
    with pytest.raises(ValueError, match="belongs to another run.*delete it"):
        train.fit(model2, opt2, mse, (x[:40], y[:40]), batch_size=8, steps=3, checkpoint=ckpt,
                  progress=False)


def test_a_stopped_trainer_can_fit_again():
    class StopOnce(train.Callback):
        fired = False

        def on_step_end(self, trainer, logs):
            if not self.fired:
                self.fired = trainer.stop_training = True

    model, opt, data = make_problem()
    trainer = train.Trainer(model, opt, mse, data, batch_size=16, callbacks=[StopOnce()], progress=False)
    trainer.fit(steps=10)
    assert trainer.step == 1
    trainer.fit(steps=10)
    assert trainer.step == 10


def test_full_batch_steps_see_all_the_data_in_order():
    seen = []
    model, opt, (x, y) = make_problem()

    def loss(model, xb, yb):
        seen.append(xb)
        return mse(model, xb, yb)

    train.fit(model, opt, loss, (x, y), batch_size=len(x), steps=3, progress=False)
    assert len(seen) == 3 and all(b is x for b in seen)


def test_step_scheduler_steps_per_step_and_resumes(tmp_path):
    model, opt, data = make_problem()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    train.fit(model, opt, mse, data, batch_size=16, steps=5, callbacks=[train.StepScheduler(sched)],
              checkpoint=tmp_path / "c.pt", progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 ** 2)
    model2, opt2, _ = make_problem()
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    trainer = train.Trainer(model2, opt2, mse, data, batch_size=16, checkpoint=tmp_path / "c.pt",
                            callbacks=[train.StepScheduler(sched2)], progress=False)
    trainer.fit(steps=6)
    assert sched2.last_epoch == 6 and opt2.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 ** 3)


def test_a_second_ctrl_c_interrupts_at_once(tmp_path):
    import os
    import signal

    before = signal.getsignal(signal.SIGINT)
    calls = []

    def mse_twice_interrupted(model, x, y):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the second one raises inside this step
            calls.append("not reached")
        return mse(model, x, y)

    model, opt, data = make_problem()
    ckpt = tmp_path / "c.pt"
    with pytest.raises(KeyboardInterrupt):
        train.fit(model, opt, mse_twice_interrupted, data, batch_size=16, steps=10, checkpoint=ckpt,
                  checkpoint_every=1, progress=False)
    assert "not reached" not in calls
    assert torch.load(ckpt, weights_only=False)["step"] == 2  # the half-done step 3 is not saved
    assert signal.getsignal(signal.SIGINT) is before


def test_optimisers_that_need_a_closure_train_and_one_that_ignores_it_is_refused():
    """L-BFGS evaluates the loss several times per step through the trainer's closure; the logged
    loss is the first evaluation's. An optimiser whose step never calls the closure would train
    on nothing: the trainer says so."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64)
    model = torch.nn.Linear(3, 1).double()
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=20)
    history = train.fit(model, opt, lambda m, x, y: ((m(x) - y) ** 2).mean(), (x, y),
                        batch_size=64, steps=3, log_every=1, progress=False)
    assert history["loss"][0] > 1e-2 and history["loss"][-1] < 1e-8
    assert opt.state[opt._params[0]]["func_evals"] > 3  # several evaluations per step

    class Lazy(torch.optim.SGD):
        def step(self, closure=None):
            return None

    with pytest.raises(RuntimeError, match="never called the closure"):
        train.fit(model, Lazy(model.parameters(), lr=0.1), mse, (x.float(), y.float()),
                  batch_size=8, steps=1, progress=False)


def test_adam_is_fused_on_the_cpu_and_matches_the_default_update():
    import kexue as kx

    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3)
    b = torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    fused, plain = kx.train.adam(a.parameters(), 1e-2), torch.optim.Adam(b.parameters(), lr=1e-2)
    assert fused.defaults["fused"] is True and plain.defaults["fused"] is None
    x = torch.randn(8, 5)
    for _ in range(20):
        for model, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    groups = [{"params": [a.weight]}, {"params": [a.bias], "lr": 1e-3}]
    assert kx.train.adam(groups, 1e-2).param_groups[1]["lr"] == 1e-3
