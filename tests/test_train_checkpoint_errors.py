"""A checkpoint that cannot be resumed from (unreadable, or written for another model or run) gives
a CheckpointError naming the file, what is wrong and how to start afresh, not a raw torch error."""
import os

import pytest
import torch

from kexue import train


def problem():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(64, 5, generator=gen), torch.randn(64, 1, generator=gen)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def fit(model, checkpoint, steps=4):
    return train.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, problem(),
                     batch_size=16, steps=steps, checkpoint=checkpoint, progress=False)


def small():
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


@pytest.mark.parametrize("content", [b"", os.urandom(4096)], ids=["empty", "random-bytes"])
def test_an_unreadable_file_is_named_with_the_way_out(tmp_path, content):
    path = tmp_path / "run.pt"
    path.write_bytes(content)
    with pytest.raises(train.CheckpointError, match=f"checkpoint {path} cannot be read .*"
                                                    "delete it to start afresh.*--fresh") as info:
        fit(small(), path)
    assert info.value.__cause__ is not None  # torch's own error is chained
    assert isinstance(info.value, ValueError)


def test_a_truncated_checkpoint_is_unreadable(tmp_path):
    path = tmp_path / "run.pt"
    fit(small(), path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(train.CheckpointError, match="cannot be read .*truncated"):
        fit(small(), path, steps=8)


def test_a_checkpoint_of_another_architecture_shows_what_differs(tmp_path):
    path = tmp_path / "run.pt"
    fit(small(), path)
    wider = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    before = [p.detach().clone() for p in wider.parameters()]
    with pytest.raises(train.CheckpointError,
                       match=rf"checkpoint {path}: the checkpoint was written for another model: "
                             r"0.weight of shape \(8, 5\), the model's is \(16, 5\); .* and 1 more; "
                             "delete it to start afresh"):
        fit(wider, path, steps=8)
    assert all(torch.equal(a, b) for a, b in zip(before, wider.parameters()))  # nothing loaded
    deeper = torch.nn.Sequential(*small(), torch.nn.Linear(1, 1))
    with pytest.raises(train.CheckpointError, match="3.weight missing; 3.bias missing"):
        fit(deeper, path, steps=8)


def test_a_file_that_is_not_a_trainer_checkpoint_is_named(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(small().state_dict(), path)
    with pytest.raises(train.CheckpointError, match="not a Trainer checkpoint"):
        fit(small(), path)


def test_a_corrupt_file_in_a_checkpoints_folder_is_named_too(tmp_path):
    (tmp_path / "trainer-1.pt").write_bytes(b"\x00" * 100)
    with train.checkpoints(tmp_path), pytest.raises(
            train.CheckpointError, match=f"checkpoint {tmp_path / 'trainer-1.pt'} cannot be read"):
        fit(small(), None)
