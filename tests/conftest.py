import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _quiet_and_quick(monkeypatch):
    """Tests run in the quick profile with progress bars off, whatever the caller's environment."""
    monkeypatch.setenv("KEXUE_PROFILE", "quick")
    monkeypatch.setenv("KEXUE_PROGRESS", "0")


def quoted(value, text: str) -> bool:
    """``value`` is what a chapter prints as ``text`` (rounded to ``text``'s decimals): the
    record tests hold every number a chapter quotes to its record with it."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(value - float(text)) <= 0.5 * 10 ** -decimals + 1e-9


def full_record(name: str) -> dict:
    """The committed full-profile record ``results/NAME.json``, checked to have been run with the
    experiment's registered full configuration; the test is skipped where there is none."""
    import json

    from kexue import experiments

    path = ROOT / "results" / f"{name}.json"
    if not path.exists():
        pytest.skip(f"no full-profile record {path.name}")
    data = json.loads(path.read_text())
    assert data["profile"] == "full"
    assert data["config"] == experiments.get(name).full
    return data


def committed(monkeypatch, folder: Path, *records: dict) -> None:
    """Point the book's ``results/`` at ``folder`` and commit ``records`` there (each written as
    ``EXPERIMENT.json``), so that the pages' readers of full records see just these."""
    import json

    from kexue import experiments

    monkeypatch.setattr(experiments, "results_dir", lambda: folder)
    for record in records:
        (folder / f"{record['experiment']}.json").write_text(json.dumps(record))


def published_as_full_run(record, module, read, folder: Path, monkeypatch):
    """What ``read()`` (a page's reader of a committed full run) gives once ``record``'s artifacts
    are published in ``folder`` as a full run's would be, with ``module.results_dir`` pointed
    there; ``read()`` must give None before (nothing published: the page falls back to its run)."""
    import json

    from kexue import experiments, published

    publish = experiments.REGISTRY[record.experiment].publish
    monkeypatch.setattr(module, "results_dir", lambda: folder)
    assert read() is None
    data = record.to_json()
    data.update(profile="full",
                published=published.save(publish(record.artifacts), folder, record.experiment))
    (folder / f"{record.experiment}.json").write_text(json.dumps(data))
    return read()


@pytest.fixture
def root() -> Path:
    return ROOT


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/book/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.book)
