"""Command line: ``python -m kexue list``, ``reproduce NAME [--profile quick|full] [--fresh]``,
``data NAME...``, ``bench NAME [--steps N] [--device D] [--save]``.

``reproduce`` checkpoints every training it runs: interrupted (Ctrl-C, or killed) and run again, it
resumes where it stopped and writes the record an uninterrupted run would have written."""
from __future__ import annotations

import argparse
import inspect
import json
import shutil
import sys
from pathlib import Path


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse reports anything else in one line)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    from . import bench, data, experiments, runtime, train

    parser = argparse.ArgumentParser(prog="python -m kexue", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered experiments")
    rep = sub.add_parser("reproduce", help="run an experiment and write results/NAME.json")
    rep.add_argument("name")
    rep.add_argument("--profile", choices=runtime.PROFILES, default=None,
                     help="default: KEXUE_PROFILE, else full on CUDA and quick elsewhere")
    rep.add_argument("--results", type=Path, default=experiments.results_dir(),
                     help="folder for records (default: results/ of the checkout, else ./results)")
    rep.add_argument("--fresh", action="store_true",
                     help="discard the checkpoints of an interrupted run of this configuration "
                          "and start again (by default a run resumes from them)")
    fetch = sub.add_parser("data", help="fetch datasets into the cache")
    fetch.add_argument("names", nargs="+", choices=sorted(data.DATASETS))
    timing = sub.add_parser("bench", help="time our code against plain PyTorch doing the same work")
    timing.add_argument("name", choices=sorted(bench.BENCHMARKS))
    timing.add_argument("--steps", type=_positive_int, default=None,
                        help="timed training steps (default: the benchmark's own, e.g. 300 for "
                             "vae-cluster, 20 for nice, 50 for gan-single-loss; linear-attention "
                             "takes none)")
    timing.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best there is)")
    timing.add_argument("--save", action="store_true",
                        help="also write the result and its provenance to results/bench/NAME.json")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in experiments.names():
            exp = experiments.get(name)
            ref = f" (post: {exp.reference.value} {exp.reference.metric})" if exp.reference else ""
            print(f"{name:32s} post {exp.post:<5d} {exp.metric}{ref}\n    {exp.description}")
        return 0
    if args.command == "data":
        for name in args.names:
            print(f"{name}: {data.ensure(data.DATASETS[name])}")
        return 0
    if args.command == "bench":
        try:
            runtime.device(args.device)
        except (ValueError, RuntimeError) as err:  # unknown, or not on this machine
            print(err, file=sys.stderr)
            return 2
        run = bench.get(args.name)
        if args.steps is not None and "steps" not in inspect.signature(run).parameters:
            print(f"benchmark {args.name} takes no --steps", file=sys.stderr)
            return 2
        result = run(device=args.device, **({} if args.steps is None else {"steps": args.steps}))
        print(json.dumps({key: value for key, value in result.items() if key != "rows"}, indent=2))
        if "rows" in result:
            print(bench.table(result["rows"]))
        print(f"{result.get('ratio_means', 'ours / reference')}: {result['ratio']:.2f}x on "
              f"{result['device']}")
        if args.save:
            path = bench.save(args.name, result, runtime.provenance(runtime.device(args.device)),
                              experiments.results_dir())
            print(f"wrote {path}")
        return 0
    try:
        experiments.get(args.name)
    except KeyError as err:
        print(err.args[0], file=sys.stderr)
        return 2
    if args.fresh:
        exp = experiments.get(args.name)
        profile = args.profile or runtime.profile()
        shutil.rmtree(experiments.checkpoint_folder(args.name, profile, exp.config(profile)),
                      ignore_errors=True)
    try:
        record = experiments.run(args.name, args.profile, save_to=args.results, resume=True)
    except KeyboardInterrupt:
        profile = args.profile or runtime.profile()
        folder = experiments.checkpoint_folder(args.name, profile,
                                               experiments.get(args.name).config(profile))
        print(f"\ninterrupted: the finished trainings and the one under way are kept in {folder}; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    except train.CheckpointError as err:  # says which file, and --fresh
        print(err, file=sys.stderr)
        return 2
    print(json.dumps({"metrics": record.metrics, "reference": record.reference,
                      "profile": record.profile, "wall_time_s": record.wall_time_s,
                      "device": record.provenance["device_name"]}, indent=2))
    print(f"wrote {args.results / (args.name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
