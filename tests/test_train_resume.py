"""Runs that cannot lose work: train.checkpoints gives every trainer made in its block a file of its
own, and a second pass over the same code resumes; the last checkpoint of an early-stopped run
holds the restored best weights; fit_adam is the shared Adam glue."""
import pytest
import torch

from kexue import train


def problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(128, 5, generator=gen)
    y = torch.sin(x @ torch.randn(5, 1, generator=gen))
    return x, y


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def two_trainings(interrupt_second_at=None):
    """A driver with two trainings in a row and random draws between them, as experiments have."""
    x, y = problem()
    torch.manual_seed(0)
    first = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Dropout(0.1), torch.nn.Tanh(),
                                torch.nn.Linear(8, 1))
    train.fit_adam(first, mse, (x, y), lr=1e-2, batch_size=16, steps=40, progress=False)
    noise = torch.randn(3)  # global RNG used between trainings: must be the same after a resume
    second = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    callbacks = [train.InterruptAt(interrupt_second_at)] if interrupt_second_at else []
    train.fit_adam(second, mse, (x, y), lr=1e-2, batch_size=16, steps=60, progress=False,
                   callbacks=callbacks)
    return first.state_dict(), second.state_dict(), noise, torch.rand(2)


def equal_states(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_interrupted_in_its_second_training_resumes_to_the_same_end(tmp_path):
    reference = two_trainings()
    with train.checkpoints(tmp_path / "run"):
        with pytest.raises(KeyboardInterrupt):
            two_trainings(interrupt_second_at=25)
    saved = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert saved == ["trainer-1.pt", "trainer-2.pt"]
    assert torch.load(tmp_path / "run" / "trainer-2.pt", weights_only=False)["step"] == 25
    torch.manual_seed(999)  # a new process starts from another RNG state
    with train.checkpoints(tmp_path / "run"):
        resumed = two_trainings()
    assert equal_states(reference[0], resumed[0]) and equal_states(reference[1], resumed[1])
    assert torch.equal(reference[2], resumed[2]) and torch.equal(reference[3], resumed[3])


def test_a_finished_training_is_skipped_not_repeated(tmp_path):
    with train.checkpoints(tmp_path):
        two_trainings()
    calls = []
    original = train.Trainer._train_step

    def counting(self, batch):
        calls.append(1)
        return original(self, batch)

    train.Trainer._train_step = counting
    try:
        with train.checkpoints(tmp_path):
            two_trainings()
    finally:
        train.Trainer._train_step = original
    assert calls == []


def test_checkpoints_are_written_every_so_many_seconds(tmp_path, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(train.time, "monotonic", lambda: clock[0])
    x, y = problem()
    model = torch.nn.Linear(5, 1)
    saved_steps = []

    class Tick(train.Callback):
        def on_step_end(self, trainer, logs):
            clock[0] += 1.0  # one second a step

    with train.checkpoints(tmp_path, seconds=10):
        trainer = train.Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, (x, y),
                                batch_size=16, callbacks=[Tick()], progress=False)
        original = trainer.save_checkpoint

        def spy(path=None):
            saved_steps.append(trainer.step)
            return original(path)

        trainer.save_checkpoint = spy
        trainer.fit(steps=35)
    assert saved_steps == [10, 20, 30, 35]  # every 10 s, and at the end


def test_checkpoint_folder_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="seconds must be positive"):
        with train.checkpoints(tmp_path, seconds=0):
            pass
    model = torch.nn.Linear(5, 1)
    with pytest.raises(ValueError, match="checkpoint_seconds needs a checkpoint path"):
        train.Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, problem(),
                      batch_size=16, checkpoint_seconds=5)


def test_outside_the_block_trainers_get_no_file(tmp_path):
    with train.checkpoints(tmp_path):
        pass
    model = torch.nn.Linear(5, 1)
    trainer = train.Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, problem(),
                            batch_size=16, progress=False)
    assert trainer.checkpoint is None


def test_the_final_checkpoint_of_an_early_stopped_run_holds_the_best_weights(tmp_path):
    x, y = problem()
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    values = iter([3.0, 1.0, 2.0, 2.5, 2.7, 2.9] + [5.0] * 100)
    seen = {}

    class Remember(train.Callback):
        def on_step_end(self, trainer, logs):
            if trainer.step == 4:  # the step of the best evaluation (every 2 steps: 2, 4, ...)
                seen["best"] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    stopper = train.EarlyStopping(lambda m: next(values), patience=3, every=2)
    trainer = train.Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, (x, y),
                            batch_size=16, callbacks=[Remember(), stopper], progress=False,
                            checkpoint=tmp_path / "run.pt")
    trainer.fit(steps=100)
    assert stopper.best_step == 4 and stopper.stopped_step == 10
    saved = torch.load(tmp_path / "run.pt", weights_only=False)["model"]
    assert equal_states(saved, seen["best"]) and equal_states(model.state_dict(), seen["best"])


def test_fit_adam_equals_the_glue_it_replaces():
    x, y = problem()
    torch.manual_seed(3)
    a = torch.nn.Linear(5, 1)
    b = torch.nn.Linear(5, 1)
    b.load_state_dict(a.state_dict())
    train.fit_adam(a, mse, (x, y), lr=1e-2, batch_size=32, epochs=3, progress=False, seed=4)
    train.fit(b, train.adam(b.parameters(), 1e-2), mse, (x, y), batch_size=32, epochs=3,
              progress=False, seed=4)
    assert equal_states(a.state_dict(), b.state_dict())
    with pytest.raises(ValueError, match="lr must be positive"):
        train.fit_adam(a, mse, (x, y), lr=0, batch_size=32, epochs=1, progress=False)
