import json
import math

import pytest

from kexue import __main__ as cli
from kexue import experiments
from kexue.experiments import Reference, experiment


@pytest.fixture
def toy():
    name = "toy-sum"

    @experiment(name, quick=dict(n=3, seed=0), full=dict(n=10, seed=0), metric="total",
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
        experiment("Bad_Name", quick={}, full={}, metric="x", description="", post=1)

    @experiment("toy-nan", quick={}, full={}, metric="x", description="", post=1)
    def nan_run(config):
        return {"x": math.nan}

    @experiment("toy-missing", quick={}, full={}, metric="x", description="", post=1)
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


def test_results_dir_is_the_checkouts():
    from kexue import runtime

    assert experiments.results_dir() == runtime.checkout() / "results"
