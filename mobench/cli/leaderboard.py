"""The CLI's ``sweep``, ``report`` and ``check`` subcommands (their logic lives in
:mod:`mobench.run.sweep` and :mod:`mobench.leaderboard`; here only arguments and printing)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mobench.cli.arguments import threads_argument
from mobench.core.errors import ConfigError
from mobench.core.text import plural

if TYPE_CHECKING:
    from mobench.run.sweep import SlurmSettings


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_output_file(path: Path) -> None:
    """Refuse, before any work, an output file that is a folder or whose folder cannot be
    written (one line, like an unwritable run folder)."""
    from mobench.core.errors import RunFolderError
    from mobench.run.runfolder import check_writable

    if path.is_dir():
        raise RunFolderError(f"cannot write {str(path)!r}: it is a folder; name a file")
    check_writable(path.parent)


def _warn_unreproducible(reasons: dict[str, str], then: str = "") -> None:
    """One warning per run folder that no commit reproduces (``reasons``: folder -> why)."""
    for folder, reason in sorted(reasons.items()):
        _say(f"mobench: warning: {folder} is not reproducible from a commit: it {reason}{then}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------- sweep
def cmd_sweep(args: argparse.Namespace) -> int:
    from mobench.core import registry
    from mobench.run.sweep import open_output, parse_list, parse_seeds

    if args.methods in ("all", "builtin"):
        methods = [e.name for e in registry.methods.entries()
                   if args.methods == "all" or e.target.__module__.startswith("mobench.methods")]
    else:
        methods = parse_list(args.methods, "methods")
    tasks = parse_list(args.tasks, "tasks")
    seeds = parse_seeds(args.seeds)
    if args.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    slurm = slurm_settings_from(args)
    root = Path(args.output)
    # the output is checked and held before any run is planned or started: one line, no worker
    with open_output(root):
        return _sweep(args, methods, tasks, seeds, root, slurm)


def slurm_settings_from(args: argparse.Namespace) -> SlurmSettings:
    """The SLURM settings of ``mobench sweep``: the --slurm-config file's, then the flags'."""
    from mobench.run.sweep import read_slurm_file, slurm_settings

    return slurm_settings(
        read_slurm_file(args.slurm_config) if args.slurm_config else None,
        partition=args.slurm_partition, time_min=args.slurm_time_min,
        gpus_per_node=args.slurm_gpus, cpus_per_task=args.slurm_cpus, mem_gb=args.slurm_mem_gb,
        array_limit=args.slurm_array_limit, sbatch=args.slurm_sbatch)


def _sweep(args: argparse.Namespace, methods: list[str], tasks: list[str], seeds: list[int],
           root: Path, slurm: SlurmSettings) -> int:
    """The sweep itself, on an output that :func:`cmd_sweep` holds."""
    from mobench.run.sweep import plan_sweep, reuse_current_results, run_sweep

    threads = args.threads
    if threads is None and args.executor == "slurm":
        threads = slurm.cpus_per_task  # a job's cores, not this machine's split between --jobs
    jobs = plan_sweep(methods, tasks, seeds, scale=args.scale or "tiny", root=root,
                      overrides=args.overrides, config_file=args.config or "", jobs=args.jobs,
                      threads=threads, device=args.device)
    _say(f"mobench: sweep of {plural(len(jobs), 'run')} ({plural(len(methods), 'method')} x "
         f"{plural(len(tasks), 'task')} x {plural(len(seeds), 'seed')}) under {root}, "
         f"executor {args.executor}")
    if args.publish:
        from mobench.run.provenance import git_revision

        revision = git_revision()
        if not revision or revision["dirty"]:
            raise ConfigError("--publish needs runs a commit reproduces, and mobench runs from "
                              + ("no git checkout" if not revision else
                                 "a tree with uncommitted changes") + "; commit them first")
    if args.reuse:
        looked = reuse_current_results(jobs, root, Path(args.reuse))
        reused = [folder for folder, reason in looked.items() if not reason]
        for folder, reason in sorted(looked.items()):
            if reason and reason != "no published run":
                _say(f"mobench: rerunning {folder}: {reason}")
        _say(f"mobench: reused {plural(len(reused), 'current published run')} from "
             f"{args.reuse}; {len(looked) - len(reused)} to run")

    def report(outcome) -> None:  # type: ignore[no-untyped-def]
        if outcome.status != "skipped":
            where = f" ({outcome.where})" if outcome.where else ""
            _say(f"mobench: {outcome.status}: {outcome.job.label} in {outcome.seconds:.0f} s"
                 f"{where}")

    summary = run_sweep(jobs, executor=args.executor, workers=args.jobs, slurm=slurm,
                        on_outcome=report)
    print(summary.format())
    if summary.failed:
        return 1
    if args.publish:
        _publish([Path(job.folder) for job in jobs], Path(args.publish))
    return 0


def _publish(folders: list[Path], root: Path) -> None:
    from mobench.run.published import publish_runs

    written = publish_runs(folders, root)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    print(f"published {plural(len(written), 'run')} to {root} ({size / 1e6:.2f} MB under it "
          "in all)")


# -------------------------------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    from mobench.core.store import write_text_atomic
    from mobench.leaderboard.aggregate import build_leaderboards
    from mobench.leaderboard.collect import load_runs
    from mobench.leaderboard.protocol import unreproducible_runs
    from mobench.leaderboard.table import to_csv, to_text
    from mobench.run.runfolder import check_writable

    if args.run_minutes:
        return _print_run_minutes(args.runs)
    if args.n_bootstrap < 1:
        raise ConfigError(f"--n-bootstrap must be at least 1 (the intervals are formed from the "
                          f"replicates), got {args.n_bootstrap}")
    for folder in (args.csv, args.markdown, args.figures):
        if folder:
            check_writable(Path(folder))
    if args.html:
        check_output_file(Path(args.html))
    runs = load_runs(args.runs)
    _warn_unreproducible(unreproducible_runs(runs), "; its rows are marked")
    boards = build_leaderboards(runs, n_bootstrap=args.n_bootstrap, seed=args.seed,
                                workers=args.jobs or usable_cores())
    for board in boards:
        print(to_text(board) + "\n")
    if args.csv:
        folder = Path(args.csv)
        for board in boards:
            write_text_atomic(folder / f"leaderboard-{board.task}.csv", to_csv(board))
        _say(f"mobench: wrote {plural(len(boards), 'CSV leaderboard')} to {folder}")
    if args.markdown:
        folder = Path(args.markdown)
        for board in boards:
            write_text_atomic(folder / f"leaderboard-{board.task}.md", to_text(board) + "\n")
        _say(f"mobench: wrote {plural(len(boards), 'Markdown leaderboard')} to {folder}")
    drawn = None
    if args.figures or args.html:
        from mobench.leaderboard.figures import Styles, all_figures

        # drawn once for the files and the page, in as many processes as the bootstrap
        drawn = all_figures(boards, Styles.of(boards), workers=args.jobs or usable_cores())
    if args.figures and drawn is not None:
        from mobench.core.store import write_bytes_atomic

        folder = Path(args.figures)
        written = 0
        for board in boards:
            for stem, _, png in drawn[board.task]:
                write_bytes_atomic(folder / f"{stem}-{board.task}.png", png)
                written += 1
        _say(f"mobench: wrote {plural(written, 'figure')} to {folder}")
    if args.html:
        from mobench.leaderboard.page import write_page

        write_page(Path(args.html), boards, runs, drawn)
        _say(f"mobench: wrote {args.html}")
    return 0


def _print_run_minutes(paths: list[str]) -> int:
    from mobench.leaderboard.collect import find_run_folders
    from mobench.leaderboard.run_minutes import format_run_minutes, run_minutes

    folders = find_run_folders(paths)
    if not folders:
        raise ConfigError(f"no finished runs under {', '.join(paths)}")
    print(format_run_minutes(run_minutes(folders)))
    return 0


# --------------------------------------------------------------------------------------- check
def cmd_check(args: argparse.Namespace) -> int:
    from mobench.core.store import SPEC_FILE, read_json
    from mobench.leaderboard.check import check, read_baseline, updated, write_baseline
    from mobench.leaderboard.collect import find_run_folders
    from mobench.run.published import unreproducible_reason
    from mobench.run.results import read_result

    folders = find_run_folders(args.runs)
    results = [read_result(folder) for folder in folders]
    if not results:
        raise ConfigError(f"no finished run under {', '.join(args.runs)}")
    reasons = {str(f): unreproducible_reason(read_json(f / SPEC_FILE)) for f in folders}
    _warn_unreproducible({f: reason for f, reason in reasons.items() if reason})
    baseline_path = Path(args.baseline)
    if args.update:
        check_output_file(baseline_path)
        previous = read_baseline(baseline_path) if baseline_path.exists() else None
        write_baseline(baseline_path, updated(previous, results, given_only=args.given_only))
        _say(f"mobench: rewrote {baseline_path} from {plural(len(results), 'run')}")
        return 0
    problems = check(read_baseline(baseline_path), results, given_only=args.given_only)
    for problem in problems:
        print(problem.format())
    if problems:
        _say(f"mobench: check failed: {len(problems)} problem(s) against {baseline_path}")
        return 1
    print(f"check passed: {plural(len(results), 'run')} within tolerance of {baseline_path}")
    return 0


# ------------------------------------------------------------------------------------- publish
def cmd_publish(args: argparse.Namespace) -> int:
    from mobench.leaderboard.collect import find_run_folders

    folders = find_run_folders(args.runs)
    if not folders:
        raise ConfigError(f"no finished run under {', '.join(args.runs)}")
    _publish(folders, Path(args.to))
    return 0


def add_leaderboard_commands(sub: argparse._SubParsersAction) -> None:
    sweep = sub.add_parser("sweep", help="run a grid of methods x tasks x seeds (skips finished "
                                         "runs, resumes interrupted ones)")
    sweep.add_argument("--methods", required=True,
                       help="comma-separated method names, 'builtin' (mobench's own) or 'all' "
                            "(every registered method, plugins included)")
    sweep.add_argument("--tasks", required=True, help="comma-separated task names")
    sweep.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    sweep.add_argument("--scale", choices=["tiny", "paper"], default=None)
    sweep.add_argument("--config", help="YAML config for every run")
    sweep.add_argument("--output", default="runs", help="root folder of the runs (runs/)")
    sweep.add_argument("--jobs", type=int, default=1,
                       help="runs at a time with the local executor (the cores are split)")
    sweep.add_argument("--threads", type=threads_argument, default=None,
                       help="torch threads per run (default: the cores split between the jobs; "
                            "with --executor slurm, the CPUs each job asks for); "
                            "the numbers depend on it, and the committed leaderboards ran with 1")
    sweep.add_argument("--reuse", metavar="RESULTS",
                       help="published results (reports/results) laid out like --output: a run "
                            "whose published copy today's code reproduces (same modules, threads "
                            "and CPU kernels, clean commit) is copied, not rerun")
    sweep.add_argument("--publish", metavar="RESULTS",
                       help="after a sweep without failures, publish its runs under RESULTS "
                            "(mobench publish); refused from a tree with uncommitted changes")
    sweep.add_argument("--executor", choices=["local", "slurm", "submitit-local"],
                       default="local")
    sweep.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    slurm = sweep.add_argument_group(
        "SLURM (--executor slurm)", "what each run's job asks for; flags win over the "
        "--slurm-config file's settings, which win over the defaults")
    slurm.add_argument("--slurm-config", metavar="FILE",
                       help="a YAML file of these settings: partition, time_min, cpus_per_task, "
                            "mem_gb, gpus_per_node, array_limit, sbatch (a mapping)")
    slurm.add_argument("--slurm-partition", default=None,
                       help="partition (default: the cluster's)")
    slurm.add_argument("--slurm-time-min", type=int, default=None,
                       help="time limit per job in minutes (240); a run stopped there resumes "
                            "on the next sweep")
    slurm.add_argument("--slurm-cpus", type=int, default=None, help="CPU cores per job (8)")
    slurm.add_argument("--slurm-mem-gb", type=int, default=None,
                       help="memory per job in GiB (default: the cluster's)")
    slurm.add_argument("--slurm-gpus", type=int, default=None, help="GPUs per job (1; 0: none)")
    slurm.add_argument("--slurm-sbatch", action="append", metavar="NAME=VALUE",
                       help="another sbatch parameter, e.g. account=mylab or constraint=a100 "
                            "(a NAME alone for a flag); repeatable")
    slurm.add_argument("--slurm-array-limit", type=int, default=None,
                       help="at most this many of the sweep's jobs at once (the array's %%N)")
    sweep.add_argument("overrides", nargs="*", metavar="key=value",
                       help="overrides for every run, e.g. method.train.steps=50; method.* keys "
                            "apply to the methods whose config has them")
    sweep.set_defaults(handler=cmd_sweep)

    report = sub.add_parser("report", help="leaderboards from run folders (CSV, HTML)")
    report.add_argument("runs", nargs="+", help="run folders, or folders to search for runs")
    report.add_argument("--csv", help="folder for one leaderboard-<task>.csv per task")
    report.add_argument("--html", help="one self-contained HTML page")
    report.add_argument("--markdown", help="folder for one leaderboard-<task>.md per task")
    report.add_argument("--figures", help="folder for one fronts-<task>.png per task")
    report.add_argument("--n-bootstrap", type=int, default=200,
                        help="replicates of the seeds-and-prompts bootstrap (200)")
    report.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (0)")
    report.add_argument("--jobs", type=threads_argument, default=None,
                        help="processes for the bootstrap and the figures (default: the "
                             "usable cores); the leaderboards and figures are the same with any "
                             "number")
    report.add_argument("--run-minutes", action="store_true",
                        help="instead of the leaderboards, print what making the runs took: "
                             "training and evaluation minutes per task and seed, the work they "
                             "reused from the asset cache, and each method's share")
    report.set_defaults(handler=cmd_report)

    pub = sub.add_parser("publish", help="copy finished runs' results (spec, metrics, "
                                         "compressed records) under a results root to commit")
    pub.add_argument("runs", nargs="+", help="run folders, or folders to search for runs")
    pub.add_argument("--to", required=True, help="the results root (reports/results)")
    pub.set_defaults(handler=cmd_publish)

    chk = sub.add_parser("check", help="compare runs with committed reference metrics")
    chk.add_argument("runs", nargs="+", help="run folders, or folders to search for runs")
    chk.add_argument("--baseline", required=True, help="the baseline JSON file")
    chk.add_argument("--given-only", action="store_true",
                     help="check only the given runs against their entries (a part of the "
                          "baseline); without it every entry needs a run")
    chk.add_argument("--update", action="store_true",
                     help="rewrite the baseline from these runs (deliberately)")
    chk.set_defaults(handler=cmd_check)
