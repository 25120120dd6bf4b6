"""A registry of named experiments: each has a ``quick`` and a ``full`` configuration, a function
that runs it and returns its metrics, and the number the original post reports where it gives one.

``python -m kexue reproduce NAME`` and the chapters call the same :func:`run`, so the book and the
records in ``results/`` cannot disagree.

Experiments are found, not listed: each part of the book keeps its drivers in its own
``experiments`` module (or package of modules), e.g. ``kexue.vae.experiments``, and :func:`names`
imports every one of them. The implementations they drive never import this registry.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import os
import pkgutil
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from . import runtime


@dataclasses.dataclass(frozen=True)
class Reference:
    """A number the original post reports: its value, what it measures, and where the post says so."""

    value: float | str
    metric: str
    where: str


@dataclasses.dataclass(frozen=True)
class Headline:
    """How the results appendix shows an experiment's headline number: ``label`` says what it
    measures, with its unit; ``resolution`` is how finely the number is known (e.g. the binomial
    standard error of an accuracy on 10,000 test images, about 0.003), and the value is rounded to
    it; ``better`` ("higher", "lower" or None) says which way beats the post's number."""

    label: str
    resolution: float
    better: str | None = None

    def __post_init__(self):
        if not self.label:
            raise ValueError("a headline needs a label saying what it measures")
        if not (math.isfinite(self.resolution) and self.resolution > 0):
            raise ValueError(f"resolution must be a positive number, got {self.resolution!r}")
        if self.better not in ("higher", "lower", None):
            raise ValueError(f"better must be 'higher', 'lower' or None, got {self.better!r}")

    def decimals(self) -> int:
        """Decimal places that show the number to its resolution."""
        return max(0, -math.floor(math.log10(self.resolution)))

    def format(self, value) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(value)
        return f"{value:.{self.decimals()}f}"

    def shortfall(self, ours, reference) -> float | None:
        """How far ``ours`` falls short of a numeric ``reference``, beyond the resolution; else None."""
        numbers = (int, float)
        if self.better is None or not isinstance(ours, numbers) or not isinstance(reference, numbers):
            return None
        gap = reference - ours if self.better == "higher" else ours - reference
        return gap if gap > self.resolution else None


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    fn: Callable[[dict], Any]
    quick: dict
    full: dict
    metric: str
    description: str
    post: int
    reference: Reference | None = None
    headline: Headline | None = None
    publish: Callable[[dict], dict] | None = None

    def config(self, profile: str) -> dict:
        if profile not in runtime.PROFILES:
            raise ValueError(f"profile must be one of {runtime.PROFILES}, got {profile!r}")
        return dict(self.quick if profile == "quick" else self.full)


@dataclasses.dataclass
class Record:
    """What one run produced: JSON-ready ``metrics``, plus in-memory ``artifacts`` for figures."""

    experiment: str
    profile: str
    config: dict
    metrics: dict
    metric: str
    reference: dict | None
    post: int
    wall_time_s: float
    provenance: dict
    artifacts: dict = dataclasses.field(default_factory=dict, repr=False)
    published: dict | None = None

    def to_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "artifacts"}
        if data["published"] is None:
            data.pop("published")
        return json.loads(json.dumps(data))  # a deep, JSON-only copy

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``directory/NAME.json`` atomically (a partial file never replaces a good one)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.experiment}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")
        os.replace(tmp, path)
        return path


REGISTRY: dict[str, Experiment] = {}


def results_dir() -> Path:
    """Where records live: ``results/`` of the book's checkout, else ``./results``."""
    root = runtime.checkout()
    return (root if root is not None else Path.cwd()) / "results"


def experiment(name: str, *, quick: dict, full: dict, metric: str, description: str, post: int,
               headline: Headline, reference: Reference | None = None,
               publish: Callable[[dict], dict] | None = None):
    """Register ``fn(config) -> metrics`` (or ``(metrics, artifacts)``) as experiment ``name``.

    ``metric`` names the key of the returned metrics that is the headline number; ``headline``
    says how the results appendix shows it. ``publish(artifacts) -> {name: tensor}`` picks what a
    saved full run keeps beside its record for the pages (:mod:`kexue.published`).
    """
    if not name or not name.replace("-", "").isalnum() or name != name.lower():
        raise ValueError(f"experiment names are lower-case words joined by '-', got {name!r}")
    if not isinstance(headline, Headline):
        raise TypeError(f"experiment {name!r}: headline must be a kexue.experiments.Headline, "
                        f"got {headline!r}")

    def register(fn):
        if name in REGISTRY and REGISTRY[name].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"experiment {name!r} is already registered")
        REGISTRY[name] = Experiment(name, fn, dict(quick), dict(full), metric, description, post,
                                    reference, headline, publish)
        return fn

    return register


def driver_modules() -> list[str]:
    """The modules that hold experiment drivers: ``kexue.PART.experiments`` for every part package
    that has one, and every module inside it where it is a package."""
    import kexue

    found = []
    for part in pkgutil.iter_modules(kexue.__path__):
        if not part.ispkg:
            continue
        name = f"kexue.{part.name}.experiments"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        found.append(name)
        for sub in pkgutil.iter_modules(getattr(module, "__path__", [])):
            found.append(f"{name}.{sub.name}")
    return found


def _load_all() -> None:
    """Import every driver module, which registers its experiments."""
    for name in driver_modules():
        importlib.import_module(name)


def get(name: str) -> Experiment:
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise KeyError(f"no experiment named {name!r}; registered: {known}") from None


def names() -> list[str]:
    _load_all()
    return sorted(REGISTRY)


def _jsonable(metrics: dict, name: str) -> dict:
    def check(key, value):
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"experiment {name!r} returned a non-finite metric {key!r}={value}")
            return value
        if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            return check(key, value.item())
        if isinstance(value, (list, tuple)):
            return [check(key, v) for v in value]
        if isinstance(value, dict):
            return {k: check(f"{key}.{k}", v) for k, v in value.items()}
        raise TypeError(f"experiment {name!r}: metric {key!r} is a {type(value).__name__}, not a "
                        "number, string, list or dict")

    return {k: check(k, v) for k, v in metrics.items()}


def checkpoint_folder(name: str, profile: str, config: dict) -> Path:
    """Where a run of ``name`` with ``config`` keeps its training checkpoints until its record is
    written: ``RUNS/NAME-PROFILE-HASH``, the hash that of the configuration (so a changed
    configuration never resumes another's training) and ``RUNS`` the folder ``$KEXUE_RUNS``, else
    ``runs/`` in the data cache."""
    from .data import cache_root

    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    runs = Path(os.environ["KEXUE_RUNS"]) if os.environ.get("KEXUE_RUNS") else cache_root() / "runs"
    return runs / f"{name}-{profile}-{digest}"


def run(name: str, profile: str | None = None, *, save_to: str | os.PathLike | None = None,
        resume: bool = False, **overrides) -> Record:
    """Run experiment ``name`` at ``profile`` (default: the current one); return its :class:`Record`.

    ``overrides`` replace keys of the profile's configuration (unknown keys are an error).
    ``save_to`` writes the record as ``save_to/NAME.json`` (and, for a full run of an experiment
    that publishes, its tensors as ``save_to/NAME.pt``). With ``resume``, every training of the
    run checkpoints into :func:`checkpoint_folder` (see :func:`kexue.train.checkpoints`): run it
    again after an interrupt and it resumes where it stopped and ends with the same metrics; the
    folder is deleted once the run has finished.
    """
    exp = get(name)
    profile = profile or runtime.profile()
    config = exp.config(profile)
    if overrides and save_to is not None:
        raise ValueError("a record is written only for a registered profile; drop the overrides "
                         f"{sorted(overrides)} or do not save")
    unknown = set(overrides) - set(config)
    if unknown:
        raise KeyError(f"experiment {name!r} has no configuration keys {sorted(unknown)}; "
                       f"it has {sorted(config)}")
    config.update(overrides)
    folder = checkpoint_folder(name, profile, config) if resume else None
    start = time.perf_counter()
    if folder is None:
        out = exp.fn(dict(config))
    else:
        from .train import checkpoints

        if folder.exists():
            print(f"{name}: resuming from the checkpoints in {folder}")
        with checkpoints(folder):
            out = exp.fn(dict(config))
    wall = time.perf_counter() - start
    metrics, artifacts = out if isinstance(out, tuple) else (out, {})
    if not isinstance(metrics, dict) or exp.metric not in metrics:
        raise ValueError(f"experiment {name!r} must return a metrics dict holding {exp.metric!r}")
    record = Record(
        experiment=name, profile=profile, config=config, metrics=_jsonable(metrics, name),
        metric=exp.metric, reference=dataclasses.asdict(exp.reference) if exp.reference else None,
        post=exp.post, wall_time_s=round(wall, 3), provenance=runtime.provenance(),
        artifacts=artifacts,
    )
    if save_to is not None:
        if exp.publish is not None and profile == "full":
            from . import published

            record.published = published.save(exp.publish(artifacts), save_to, name)
        record.save(save_to)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    return record


def committed_record(name: str, directory: str | os.PathLike | None = None) -> dict | None:
    """The record ``NAME.json`` of experiment ``name`` in ``directory`` (default
    :func:`results_dir`, where full runs are committed), or None where there is none."""
    path = (Path(directory) if directory is not None else results_dir()) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def load_records(directory: str | os.PathLike | None = None) -> list[dict]:
    """Every ``NAME.json`` record in ``directory`` (default :func:`results_dir`), sorted by name."""
    folder = Path(directory) if directory is not None else results_dir()
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
