"""Bad input to the command line gives one line on stderr naming the problem and a non-zero exit,
not a traceback."""
import pytest
import torch

from kexue import __main__ as cli
from kexue import experiments, train
from kexue.experiments import experiment


@pytest.fixture
def one_training(tmp_path, monkeypatch):
    monkeypatch.setenv("KEXUE_RUNS", str(tmp_path / "runs"))
    name = "toy-one-training"

    @experiment(name, quick=dict(steps=5), full=dict(steps=5), metric="loss",
                description="one training", post=1)
    def run(config):
        x = torch.randn(32, 3)
        model = torch.nn.Linear(3, 1)
        history = train.fit_adam(model, lambda m, a: (m(a) ** 2).mean(), x, lr=1e-2,
                                 batch_size=8, steps=config["steps"], progress=False)
        return {"loss": history.last("loss")}

    yield name
    experiments.REGISTRY.pop(name)


def test_reproduce_with_a_corrupt_checkpoint_names_it_and_fresh_starts_again(one_training, tmp_path,
                                                                             capsys):
    folder = experiments.checkpoint_folder(one_training, "quick", experiments.get(one_training).quick)
    folder.mkdir(parents=True)
    (folder / "trainer-1.pt").write_bytes(b"not a checkpoint")
    args = ["reproduce", one_training, "--profile", "quick", "--results", str(tmp_path)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert f"checkpoint {folder / 'trainer-1.pt'} cannot be read" in err and "--fresh" in err
    assert "Traceback" not in err
    assert cli.main([*args, "--fresh"]) == 0
