"""What a full run publishes beside its record: float16 tensors in results/NAME.pt, checked
against the SHA-256 the record states."""
import json

import pytest
import torch

from kexue import published


def write(tmp_path, tensors, name="toy-run", profile="full"):
    entry = published.save(tensors, tmp_path, name)
    (tmp_path / f"{name}.json").write_text(json.dumps({"profile": profile, "published": entry}))
    return entry


def test_round_trip_is_float16_exact_and_keeps_integers(tmp_path):
    layer = torch.nn.Linear(3, 2)
    clusters = torch.tensor([3, 1, 4], dtype=torch.int64)
    entry = write(tmp_path, {**published.module_tensors(layer, "layer"), "clusters": clusters})
    assert entry["dtype"] == "float16" and entry["tensors"]["layer.weight"] == [2, 3]
    record, tensors = published.load("toy-run", tmp_path)
    back = torch.nn.Linear(3, 2)
    back.load_state_dict(published.state_dict(tensors, "layer"))
    assert torch.equal(back.weight, layer.weight.detach().half().float())
    assert torch.equal(tensors["clusters"], clusters) and record["profile"] == "full"


def test_images_as_8_bit_levels_and_back():
    pixels = torch.arange(256, dtype=torch.float32) / 255        # MNIST's pixel values
    levels = published.as_levels(pixels)
    assert levels.dtype == torch.uint8 and torch.equal(levels, torch.arange(256, dtype=torch.uint8))
    assert torch.equal(published.from_levels(levels), pixels)      # exact both ways
    assert published.as_levels(torch.tensor([-0.5, 0.5, 1.5])).tolist() == [0, 128, 255]


def test_nothing_published_or_not_a_full_record_is_none(tmp_path):
    assert published.load("absent", tmp_path) is None
    write(tmp_path, {"x": torch.ones(2)}, profile="quick")
    assert published.load("toy-run", tmp_path) is None


def test_a_changed_file_is_refused_with_its_checksums(tmp_path):
    write(tmp_path, {"x": torch.ones(2)})
    published.save({"x": torch.zeros(2)}, tmp_path, "toy-run")  # another run's file, same name
    with pytest.raises(ValueError, match="SHA-256 .* not the .* its record states"):
        published.load("toy-run", tmp_path)
    (tmp_path / "toy-run.pt").unlink()
    with pytest.raises(FileNotFoundError, match="toy-run.pt, which is missing"):
        published.load("toy-run", tmp_path)


def test_bad_values_are_named(tmp_path):
    with pytest.raises(ValueError, match="do not fit in float16"):
        published.save({"big": torch.tensor([1e6])}, tmp_path, "toy-run")
    with pytest.raises(TypeError, match="must be a torch.Tensor, got list"):
        published.save({"x": [1.0]}, tmp_path, "toy-run")
    with pytest.raises(ValueError, match="non-empty dict"):
        published.save({}, tmp_path, "toy-run")
    with pytest.raises(KeyError, match="nothing published under 'decoder'"):
        published.state_dict({"encoder.w": torch.ones(1)}, "decoder")


def test_every_committed_publication_matches_its_record_and_stays_small():
    from pathlib import Path

    results = Path(__file__).resolve().parents[1] / "results"
    names = [p.stem for p in results.glob("*.json") if "published" in json.loads(p.read_text())]
    assert names, "no full record publishes anything"
    total = 0
    for name in names:
        record, tensors = published.load(name, results)
        total += record["published"]["bytes"]
        assert sorted(tensors) == sorted(record["published"]["tensors"]), name
        assert record["published"]["bytes"] < 2.5e6, f"{name} publishes more than 2.5 MB"
    # about 2 MB a part so far (Parts I-VII: 15.7 MB); the pages need the models they explore and
    # the figures they draw from the full runs (vae-geometry's four models: 1 MB of figure data)
    assert total < 16e6, f"published artifacts {total / 1e6:.1f} MB: keep them to a few MB a part"
    assert not [p.name for p in results.glob("*.pt") if p.stem not in names], "a .pt no record names"
