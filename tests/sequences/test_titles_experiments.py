"""The stopping experiment's driver on a tiny configuration: the stop probabilities it records
along the greedy and the real titles are the model's, and the page's curves come from them."""
import json

import pytest
import torch

import kexue as kx
from kexue.sequences.experiments import titles

from ..conftest import committed


@pytest.fixture(scope="module")
def tiny():
    return kx.experiments.run("seq2seq-stopping", "quick", n_train=300, n_test=8, steps=3, every=3,
                              samples=5, dim=16, hidden=16, max_vocab=300)


def test_stop_probabilities_are_the_models_along_both_titles(tiny):
    data, config = tiny.artifacts["data"], tiny.config
    source, target = data.tensors["test"]
    eos = data.vocab.eos_id
    for name, model in tiny.artifacts["models"].items():
        recorded = tiny.metrics["stop_probabilities"][name]
        assert len(recorded) == 5
        for i in (0, 4):
            real = target[i].tolist()
            real = real[:real.index(eos)]                       # BOS and the title
            with torch.no_grad():
                p = model(source[i:i + 1], torch.tensor([real])).softmax(-1)[0, :, eos]
            assert recorded[i]["p_eos_true"] == pytest.approx(p.tolist(), abs=6e-5)
            title, _ = titles.decode_titles(model, data, source[i:i + 1], search="greedy",
                                            config=config)
            assert recorded[i]["title"] == title[0]
            assert len(recorded[i]["p_eos"]) == len(title[0]) + 1


def test_stop_paths_and_the_full_run_reader(tiny, monkeypatch, tmp_path):
    sp = tiny.metrics["stop_probabilities"]
    paths = titles.stop_paths(sp, count=3)
    assert list(paths) == ["along the real titles", "along the greedy titles"]
    assert paths["along the greedy titles"]["softmax"] == [s["p_eos"] for s in sp["softmax"][:3]]
    assert paths["along the real titles"]["self-terminating"] == [
        s["p_eos_true"] for s in sp["self-terminating"][:3]]
    with pytest.raises(ValueError, match="count must be a positive int, got 0"):
        titles.stop_paths(sp, count=0)
    data = json.loads(json.dumps(tiny.to_json()))
    committed(monkeypatch, tmp_path)
    assert titles.stopping_full_run() is None
    committed(monkeypatch, tmp_path, data)
    assert titles.stopping_full_run() == data
    del data["metrics"]["stop_probabilities"]["softmax"][0]["p_eos_true"]   # an older record
    committed(monkeypatch, tmp_path, data)
    assert titles.stopping_full_run() is None
    kx.sequences.figures.stop_probabilities(paths["along the real titles"], epsilon=0.03)
