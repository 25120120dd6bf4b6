import json
import math

import pytest

from kexue import __main__ as cli
from kexue import experiments
from kexue.experiments import Headline, Reference, experiment

TOY = Headline("a toy number", 0.1)


@pytest.fixture
def toy():
    name = "toy-sum"

    @experiment(name, quick=dict(n=3, seed=0), full=dict(n=10, seed=0), metric="total", headline=TOY,
                description="sums 0..n-1", post=6377,
                reference=Reference(value=45, metric="total", where="nowhere, a test"))
    def run_toy(config):
        return {"total": sum(range(config["n"])), "n": config["n"]}, {"numbers": list(range(config["n"]))}

    yield name
    experiments.REGISTRY.pop(name)


def test_run_uses_the_profile_and_returns_a_record(toy, tmp_path):
    quick = experiments.run(toy)
    assert quick.profile == "quick" and quick.metrics == {"total": 3, "n": 3}
    assert quick.artifacts == {"numbers": [0, 1, 2]}
    full = experiments.run(toy, "full", save_to=tmp_path)
    saved = json.loads((tmp_path / f"{toy}.json").read_text())
    assert saved["metrics"]["total"] == 45 and saved["profile"] == "full"
    assert saved["reference"] == {"value": 45, "metric": "total", "where": "nowhere, a test"}
    assert "artifacts" not in saved and saved["provenance"]["torch"]
    assert saved["wall_time_s"] >= 0 and full.post == 6377


def test_overrides_and_their_errors(toy):
    assert experiments.run(toy, n=5).metrics["total"] == 10
    with pytest.raises(KeyError, match="has no configuration keys \\['m'\\]"):
        experiments.run(toy, m=5)
    with pytest.raises(ValueError, match="profile must be one of"):
        experiments.run(toy, "medium")
    with pytest.raises(ValueError, match="written only for a registered profile"):
        experiments.run(toy, save_to="results", n=5)


def test_unknown_experiment_lists_known(toy):
    with pytest.raises(KeyError, match="no experiment named 'nope'; registered: .*toy-sum"):
        experiments.get("nope")


def test_bad_names_and_bad_metrics():
    with pytest.raises(ValueError, match="lower-case words"):
        experiment("Bad_Name", quick={}, full={}, metric="x", headline=TOY, description="", post=1)
    with pytest.raises(TypeError, match="headline must be"):
        experiment("no-headline", quick={}, full={}, metric="x", headline="x", description="", post=1)

    @experiment("toy-nan", quick={}, full={}, metric="x", headline=TOY, description="", post=1)
    def nan_run(config):
        return {"x": math.nan}

    @experiment("toy-missing", quick={}, full={}, metric="x", headline=TOY, description="", post=1)
    def missing_run(config):
        return {"y": 1.0}

    try:
        with pytest.raises(ValueError, match="non-finite metric 'x'"):
            experiments.run("toy-nan")
        with pytest.raises(ValueError, match="must return a metrics dict holding 'x'"):
            experiments.run("toy-missing")
    finally:
        experiments.REGISTRY.pop("toy-nan")
        experiments.REGISTRY.pop("toy-missing")


def test_cli_list_and_reproduce(toy, tmp_path, capsys):
    assert cli.main(["list"]) == 0
    assert "toy-sum" in capsys.readouterr().out
    assert cli.main(["reproduce", toy, "--profile", "full", "--results", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "toy-sum.json").read_text())["metrics"]["total"] == 45
    assert cli.main(["reproduce", "nope", "--results", str(tmp_path)]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err


def test_load_records_reads_every_json(toy, tmp_path):
    experiments.run(toy, save_to=tmp_path)
    assert [r["experiment"] for r in experiments.load_records(tmp_path)] == [toy]


def test_committed_record_is_the_named_json_or_none(toy, tmp_path):
    assert experiments.committed_record(toy, tmp_path) is None
    experiments.run(toy, save_to=tmp_path)
    record = experiments.committed_record(toy, tmp_path)
    assert record == experiments.load_records(tmp_path)[0] and record["experiment"] == toy
    assert experiments.committed_record("nope", tmp_path) is None


def test_results_dir_is_the_checkouts():
    from kexue import runtime

    assert experiments.results_dir() == runtime.checkout() / "results"


# -- runs that cannot lose work, and runs that repeat ----------------------------------------------
def _interrupt_trainer(monkeypatch, nth: int, at_step: int):
    """Make the ``nth`` trainer made from now on raise KeyboardInterrupt at the end of step
    ``at_step``, as a Ctrl-C there would (the trainer saves its checkpoint and stops)."""
    from kexue import train

    made = []
    original_init = train.Trainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        made.append(self)
        if len(made) == nth:
            self.callbacks.append(train.InterruptAt(at_step))

    monkeypatch.setattr(train.Trainer, "__init__", init)
    return made


@pytest.fixture
def two_stage(tmp_path, monkeypatch):
    """A toy experiment with two trainings per seed and random draws around them."""
    import torch

    from kexue import train

    monkeypatch.setenv("KEXUE_RUNS", str(tmp_path / "runs"))
    name = "toy-two-stage"

    @experiment(name, quick=dict(seeds=[0, 1], steps=30), full=dict(seeds=[0], steps=30),
                metric="loss", headline=TOY, description="two trainings per seed", post=1)
    def run_two_stage(config):
        losses = []
        for seed in config["seeds"]:
            torch.manual_seed(seed)
            x = torch.randn(64, 4)
            y = x.sum(1, keepdim=True) + 0.1 * torch.randn(64, 1)
            for hidden in (8, 16):
                model = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Dropout(0.1),
                                            torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
                history = train.fit_adam(model, lambda m, a, b: ((m(a) - b) ** 2).mean(), (x, y),
                                         lr=1e-2, batch_size=16, steps=config["steps"],
                                         progress=False)
                losses.append(history.last("loss") + float(torch.rand(())))
        return {"loss": sum(losses), "losses": losses}

    yield name
    experiments.REGISTRY.pop(name)


@pytest.mark.parametrize("nth,at_step", [(1, 7), (3, 30), (4, 12)])
def test_an_interrupted_run_resumes_and_writes_the_same_record(two_stage, monkeypatch, nth, at_step):
    reference = experiments.run(two_stage).metrics
    folder = experiments.checkpoint_folder(two_stage, "quick", experiments.get(two_stage).quick)
    with monkeypatch.context() as patch:
        _interrupt_trainer(patch, nth, at_step)
        with pytest.raises(KeyboardInterrupt):
            experiments.run(two_stage, resume=True)
    assert len(list(folder.glob("trainer-*.pt"))) == nth  # one file per training begun
    resumed = experiments.run(two_stage, resume=True)
    assert resumed.metrics == reference
    assert not folder.exists()  # a finished run leaves no checkpoints behind


def test_the_checkpoint_folder_is_keyed_on_the_configuration(two_stage):
    exp = experiments.get(two_stage)
    quick = experiments.checkpoint_folder(two_stage, "quick", exp.quick)
    assert quick == experiments.checkpoint_folder(two_stage, "quick", dict(exp.quick))
    assert quick != experiments.checkpoint_folder(two_stage, "quick", {**exp.quick, "steps": 31})
    assert quick != experiments.checkpoint_folder(two_stage, "full", exp.quick)


def test_cli_resumes_and_fresh_starts_again(two_stage, monkeypatch, tmp_path, capsys):
    with monkeypatch.context() as patch:
        _interrupt_trainer(patch, 2, 5)
        assert cli.main(["reproduce", two_stage, "--profile", "quick", "--results", str(tmp_path)]) == 130
    folder = experiments.checkpoint_folder(two_stage, "quick", experiments.get(two_stage).quick)
    assert folder.exists() and "run the same command again to resume" in capsys.readouterr().err
    assert cli.main(["reproduce", two_stage, "--profile", "quick", "--results", str(tmp_path),
                     "--fresh"]) == 0
    assert "resuming" not in capsys.readouterr().out and not folder.exists()


def test_a_real_experiment_interrupted_mid_training_resumes_exactly(monkeypatch, tmp_path):
    """mnist-callbacks (quick): warm-up, EMA, early stopping that restores the best weights and a
    best-model checkpoint, all through kexue.train; interrupted in its training, then resumed."""
    monkeypatch.setenv("KEXUE_RUNS", str(tmp_path))
    reference = experiments.run("mnist-callbacks", "quick").metrics
    with monkeypatch.context() as patch:
        _interrupt_trainer(patch, 1, 100)
        with pytest.raises(KeyboardInterrupt):
            experiments.run("mnist-callbacks", "quick", resume=True)
    assert experiments.run("mnist-callbacks", "quick", resume=True).metrics == reference


TIMING = ("seconds", "per_second", "time", "steps_per_s")


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()
                if not any(word in k for word in TIMING)}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_quick_profiles_are_bounded_by_steps_never_by_time():
    """A config key ending in ``_seconds`` is a wall-clock budget: a quick run bounded by one would
    train for a different number of steps on each build."""
    for name in experiments.names():
        quick = experiments.get(name).quick
        timed = {k: v for k, v in quick.items() if k.endswith("_seconds") and v is not None}
        assert not timed, f"{name}'s quick profile trains for a time budget: {timed}"


@pytest.mark.parametrize("name", ["rank-one-exp-flow", "svd-linear-autoencoder", "nvae-mnist"])
def test_a_quick_experiment_run_twice_gives_the_same_metrics(name):
    first = experiments.run(name, "quick").metrics
    second = experiments.run(name, "quick").metrics
    assert _without_timings(first) == _without_timings(second)


def test_a_saved_full_run_publishes_what_its_experiment_picks(tmp_path):
    import torch

    from kexue import published

    @experiment("toy-publish", quick=dict(n=2), full=dict(n=3), metric="total", headline=TOY,
                description="", post=1,
                publish=lambda art: {"weights": torch.arange(art["n"], dtype=torch.float32)})
    def run_toy(config):
        return {"total": config["n"]}, {"n": config["n"]}

    try:
        experiments.run("toy-publish", "quick", save_to=tmp_path)
        assert not (tmp_path / "toy-publish.pt").exists(), "only full runs publish"
        record = experiments.run("toy-publish", "full", save_to=tmp_path)
        saved = json.loads((tmp_path / "toy-publish.json").read_text())
        assert saved["published"] == record.published and saved["published"]["file"] == "toy-publish.pt"
        _, tensors = published.load("toy-publish", tmp_path)
        assert tensors["weights"].tolist() == [0.0, 1.0, 2.0]
    finally:
        experiments.REGISTRY.pop("toy-publish")
