"""Bad input to the command line gives one line on stderr naming the problem and a non-zero exit,
not a traceback."""
import torch

from kexue import __main__ as cli
from kexue import experiments, train


def test_reproduce_meeting_a_corrupt_checkpoint_names_it_in_one_line(monkeypatch, tmp_path, capsys):
    path = tmp_path / "trainer-1.pt"
    path.write_bytes(b"not a checkpoint")

    def run(name, profile, **kwargs):  # a run whose training finds the corrupt file
        model = torch.nn.Linear(3, 1)
        train.fit_adam(model, lambda m, x: (m(x) ** 2).mean(), torch.randn(8, 3), lr=1e-2,
                       batch_size=4, steps=2, checkpoint=path, progress=False)

    monkeypatch.setattr(experiments, "run", run)
    assert cli.main(["reproduce", experiments.names()[0], "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"checkpoint {path} cannot be read") and err.count("\n") == 1
    assert "add --fresh" in err


def test_bench_on_an_unknown_device_says_so_in_one_line(capsys):
    assert cli.main(["bench", "vae-cluster", "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert err == "unknown device 'tpu': use cuda, cuda:N (the N-th GPU), mps or cpu\n"


def test_bench_with_no_steps_says_so_in_one_line(capsys):
    import pytest

    with pytest.raises(SystemExit) as stop:
        cli.main(["bench", "vae-cluster", "--steps", "0"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --steps: must be a whole number of at least 1, got '0'" in err
    assert "Traceback" not in err


def test_bench_with_steps_it_does_not_take_says_so_in_one_line(capsys):
    assert cli.main(["bench", "linear-attention", "--steps", "5"]) == 2
    assert capsys.readouterr().err == "benchmark linear-attention takes no --steps\n"
