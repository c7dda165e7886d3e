"""``mobench sweep``: a grid of runs (methods × tasks × seeds), skipping finished ones, resuming
interrupted ones, and summing up failures at the end without stopping the others.

Each run goes to its default folder under the sweep's root (``ROOT/<task>/<method>/<run-id>``,
the run id digesting the whole resolved spec), so a sweep started again finds its own runs:
``metrics.json`` present means done (skipped), ``spec.json`` alone means interrupted (resumed).

Executors, none of them home-made:

- ``local`` (default): ``--jobs N`` worker processes from :mod:`concurrent.futures`, one fresh
  process per run (spawned, so no CUDA or thread state leaks between runs), each with the
  machine's cores split between the workers as torch threads (``--threads`` fixes the count,
  which the numbers depend on: :mod:`mobench.core.threads`);
- ``slurm``: one SLURM job per run through submitit (partition, time, GPUs and CPUs per job);
- ``submitit-local``: submitit's local executor, the same code path as ``slurm`` without a
  cluster (what the tests use).
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import os
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mobench.core import store
from mobench.core.errors import ConfigError, MobenchError
from mobench.core.progress import progress
from mobench.run.runspec import default_run_folder, resolve_run_spec, task_spec

Executor = Literal["local", "slurm", "submitit-local"]
EXECUTORS: tuple[str, ...] = ("local", "slurm", "submitit-local")


@dataclass(frozen=True)
class SlurmSettings:
    """What each SLURM job asks for (used by the ``slurm`` executor only).

    Attributes:
        partition: the partition to submit to ("" for the cluster's default).
        time_min: the job's time limit in minutes.
        gpus_per_node: GPUs per job.
        cpus_per_task: CPU cores per job.
        mem_gb: memory per job in GiB (0: the cluster's default).
    """

    partition: str = ""
    time_min: int = 240
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 0


@dataclass(frozen=True)
class SweepJob:
    """One run of a sweep: everything a worker needs to resolve and execute it.

    Attributes:
        method: the method's registry name.
        task: the task's registry name.
        seed: the run's seed.
        scale: ``tiny`` or ``paper``.
        overrides: ``key=value`` config overrides, the same for every run of the sweep (a key
            that a method's config lacks is dropped for that method; see :func:`plan_sweep`).
        config_file: a YAML config for every run, or "".
        folder: the run folder.
        resume: the folder holds an interrupted run to continue.
        threads: torch threads for the worker (0: leave torch's default).
        device: ``auto``, ``cpu`` or ``cuda``.
        objectives: the task's number of objectives, the local executor's guess of a run's
            size (runs with more objectives start first, so the pool does not end on one long
            run while the other workers idle).
    """

    method: str
    task: str
    seed: int
    scale: str
    overrides: tuple[str, ...]
    config_file: str
    folder: str
    resume: bool
    threads: int = 0
    device: str = "auto"
    objectives: int = 0

    @property
    def label(self) -> str:
        return f"{self.method} on {self.task} ({self.scale}, seed {self.seed})"


@dataclass(frozen=True)
class SweepOutcome:
    """How one run of a sweep ended.

    Attributes:
        job: the run.
        status: ``done`` (ran now), ``skipped`` (finished before) or ``failed``.
        seconds: wall-clock of this attempt.
        error: the one-line reason of a failure ("" otherwise).
    """

    job: SweepJob
    status: str
    seconds: float = 0.0
    error: str = ""


@dataclass
class SweepSummary:
    """Every outcome of a sweep, in the grid's order."""

    outcomes: list[SweepOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[SweepOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def format(self) -> str:
        counts = {status: sum(o.status == status for o in self.outcomes)
                  for status in ("done", "skipped", "failed")}
        lines = [f"sweep: {len(self.outcomes)} runs: {counts['done']} done, "
                 f"{counts['skipped']} already complete, {counts['failed']} failed"]
        for outcome in self.failed:
            lines.append(f"  failed: {outcome.job.label}: {outcome.error}")
            lines.append(f"          folder {outcome.job.folder}; continue it with "
                         f"`mobench sweep ...` again (it resumes)")
        return "\n".join(lines)


def parse_list(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ConfigError(f"--{what} needs at least one name")
    if len(set(items)) != len(items):
        raise ConfigError(f"--{what} repeats a name: {text}")
    return items


def parse_seeds(text: str) -> list[int]:
    seeds = []
    for item in parse_list(text, "seeds"):
        if not item.isdigit():
            raise ConfigError(f"--seeds takes non-negative integers, got {item!r}")
        seeds.append(int(item))
    return seeds


def plan_sweep(methods: Sequence[str], tasks: Sequence[str], seeds: Sequence[int], *,
               scale: str, root: Path, overrides: Sequence[str] = (), config_file: str = "",
               jobs: int = 1, threads: int | None = None, device: str = "auto"
               ) -> list[SweepJob]:
    """Resolve every run of the grid now (a bad name or override fails before anything runs).

    Overrides under ``method.`` that a method's config does not have are left out for that
    method (``method.train.steps=20`` applies to every trained method and not to ``base``);
    ``task.`` and ``eval.`` overrides apply to every run and must fit every task. ``threads``:
    torch threads per run (None: the machine's cores split between the ``jobs``).
    """
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    elif threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    for override in overrides:
        if override.strip().startswith("method.") and not any(_applies(override, m)
                                                              for m in methods):
            raise ConfigError(f"override {override!r} fits none of the methods "
                              f"{', '.join(methods)}")
    planned = []
    for task in tasks:
        for method in methods:
            usable = tuple(o for o in overrides if _applies(o, method))
            for seed in seeds:
                spec = resolve_run_spec(method, task, scale=scale, seed=seed,
                                        config_file=config_file or None, overrides=usable)
                folder = default_run_folder(spec, root)
                n_objectives = len(task_spec(spec).objectives)
                planned.append(SweepJob(
                    method=method, task=task, seed=seed, scale=spec.scale, overrides=usable,
                    config_file=config_file, folder=str(folder),
                    resume=(folder / store.SPEC_FILE).exists(), threads=threads,
                    device=device, objectives=n_objectives))
    return planned


def reuse_current_results(jobs: Sequence[SweepJob], root: Path, results: Path
                          ) -> dict[str, str]:
    """The incremental regeneration: a run folder under ``root`` that today's code would not
    make again (:func:`mobench.run.published.stale_reason`: a module it ran has changed, or it
    was begun from another commit) is removed, so it runs again; the folders of the jobs not yet
    started are filled from the published runs under ``results`` (laid out like the sweep under
    ``root``) that today's code would reproduce (:func:`mobench.run.published.is_current`).
    Returns, per job folder looked at, "" when it was reused, else why it must run."""
    from mobench.run.published import reuse_published, stale_reason

    outcome = {}
    for job in jobs:
        folder = Path(job.folder)
        if job.resume or is_complete(job):
            stale = stale_reason(folder, job.threads)
            if not stale:
                continue
            shutil.rmtree(folder)
            outcome[job.folder] = f"the run there {stale}"
            continue
        reason = reuse_published(Path(results) / folder.relative_to(root), folder, job.threads)
        outcome[job.folder] = reason if reason in ("", "no published run") else (
            f"its published run {reason}")
    return outcome


def _applies(override: str, method: str) -> bool:
    from mobench.core import registry
    from mobench.core.config import build_dataclass, parse_overrides

    tree = parse_overrides([override])
    if "method" not in tree:
        return True
    try:
        build_dataclass(registry.methods.get(method).config_class, tree["method"], "method")
    except MobenchError:
        return False
    return True


def is_complete(job: SweepJob) -> bool:
    return (Path(job.folder) / store.METRICS_FILE).exists()


def run_job(job: SweepJob) -> SweepOutcome:
    """Execute one run (in a worker process or a cluster job); never raises."""
    from mobench.core.progress import quiet_library_progress
    from mobench.core.threads import set_torch_threads
    from mobench.run.runner import execute_run

    quiet_library_progress()
    started = time.perf_counter()
    try:
        if job.threads:
            set_torch_threads(job.threads)
        spec = resolve_run_spec(job.method, job.task, scale=job.scale, seed=job.seed,
                                config_file=job.config_file or None, overrides=job.overrides)
        folder = Path(job.folder)
        execute_run(spec, folder, resume=(folder / store.SPEC_FILE).exists(),
                    device=job.device)
    except MobenchError as error:
        return SweepOutcome(job, "failed", time.perf_counter() - started, str(error))
    except Exception as error:  # a bug in one method must not stop the others
        last = traceback.extract_tb(error.__traceback__)[-1]
        where = f" ({Path(last.filename).name}:{last.lineno})"
        return SweepOutcome(job, "failed", time.perf_counter() - started,
                            f"{type(error).__name__}: {error}{where}")
    return SweepOutcome(job, "done", time.perf_counter() - started)


def run_sweep(jobs: Sequence[SweepJob], *, executor: Executor = "local", workers: int = 1,
              slurm: SlurmSettings = SlurmSettings(), submitit_folder: Path | None = None,
              on_outcome: Callable[[SweepOutcome], None] = lambda outcome: None
              ) -> SweepSummary:
    """Run ``jobs`` (finished ones skipped) and return every outcome in the jobs' order."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose {', '.join(EXECUTORS)}")
    outcomes: dict[int, SweepOutcome] = {}
    todo: list[tuple[int, SweepJob]] = []
    for index, job in enumerate(jobs):
        if is_complete(job):
            outcomes[index] = SweepOutcome(job, "skipped")
            on_outcome(outcomes[index])
        else:
            todo.append((index, job))
    bar = progress(total=len(jobs), desc="sweep", unit="run")
    bar.update(len(outcomes))
    with bar:
        def finished(index: int, outcome: SweepOutcome) -> None:
            outcomes[index] = outcome
            on_outcome(outcome)
            bar.update(1)

        if executor == "local":
            _run_local(sorted(todo, key=lambda item: -item[1].objectives), workers, finished)
        else:
            _run_submitit(todo, executor, slurm, submitit_folder, finished)
    return SweepSummary([outcomes[i] for i in range(len(jobs))])


def run_job_here(job: SweepJob, environ: dict[str, str], cwd: str) -> SweepOutcome:
    """:func:`run_job` in the environment and working folder the sweep was started from."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    return run_job(job)


def worker_context(jobs: Sequence[SweepJob]) -> multiprocessing.context.BaseContext:
    """Fresh worker processes that need not import torch, transformers and the runs' methods
    and tasks again: forked from a server process that imported them once (about 7 s of CPU
    saved per run on two cores), or spawned where there is no fork (Windows). The server keeps
    the environment and folder it started in, so each run is handed the sweep's own
    (:func:`run_job_here`)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from mobench.core import registry

    context = multiprocessing.get_context("forkserver")
    modules = {"mobench.run.runner"}
    for job in jobs:
        for kind, name in ((registry.methods, job.method), (registry.tasks, job.task)):
            if name in kind:
                modules.add(kind.get(name).__module__)
    # importing torch starts no threads, so forking after it is safe; CUDA is never touched here
    context.set_forkserver_preload(sorted(modules))
    return context


def _run_local(todo: Sequence[tuple[int, SweepJob]], workers: int,
               finished: Callable[[int, SweepOutcome], None]) -> None:
    """Run in a pool of fresh worker processes (:func:`worker_context`), one per run, at most
    ``workers`` in flight. A worker killed from outside (out of memory, a signal) breaks the
    whole pool and fails every run in flight with it; those runs are then tried once more, each
    alone in a pool of its own (they resume from what they had written), so only the run that
    killed its worker is reported failed and the sweep goes on."""
    queue = collections.deque(todo)
    context = worker_context([job for _, job in todo])

    def pool(size: int) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(max_workers=size, mp_context=context,
                                                      max_tasks_per_child=1)

    while queue:
        suspects: list[tuple[int, SweepJob]] = []
        with pool(max(1, workers)) as executor:
            flying: dict[concurrent.futures.Future[SweepOutcome], tuple[int, SweepJob]] = {}
            while queue or flying:
                while queue and len(flying) < max(1, workers) and not suspects:
                    index, job = queue.popleft()
                    flying[executor.submit(run_job_here, job, dict(os.environ),
                                           os.getcwd())] = (index, job)
                if not flying:
                    break
                done, _ = concurrent.futures.wait(flying,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    index, job = flying.pop(future)
                    try:
                        finished(index, future.result())
                    except concurrent.futures.process.BrokenProcessPool:
                        suspects.append((index, job))
                if suspects:  # the pool is gone: whatever else was in flight failed with it
                    suspects += list(flying.values())
                    break
        for index, job in suspects:
            with pool(1) as alone:
                try:
                    finished(index, alone.submit(run_job_here, job, dict(os.environ),
                                                 os.getcwd()).result())
                except concurrent.futures.process.BrokenProcessPool as error:
                    finished(index, SweepOutcome(job, "failed", 0.0,
                                                 f"the worker process died: {error}"))


def _run_submitit(todo: Sequence[tuple[int, SweepJob]], executor: str, slurm: SlurmSettings,
                  folder: Path | None, finished: Callable[[int, SweepOutcome], None]) -> None:
    if not todo:
        return
    import submitit

    logs = folder or Path(todo[0][1].folder).parents[2] / ".submitit"
    runner: Any
    if executor == "slurm":
        runner = submitit.AutoExecutor(folder=str(logs), cluster="slurm")
        parameters: dict[str, Any] = {"timeout_min": slurm.time_min,
                                      "gpus_per_node": slurm.gpus_per_node,
                                      "cpus_per_task": slurm.cpus_per_task, "nodes": 1,
                                      "tasks_per_node": 1, "name": "mobench"}
        if slurm.partition:
            parameters["slurm_partition"] = slurm.partition
        if slurm.mem_gb:
            parameters["mem_gb"] = slurm.mem_gb
        runner.update_parameters(**parameters)
    else:
        runner = submitit.LocalExecutor(folder=str(logs))
        runner.update_parameters(timeout_min=slurm.time_min)
    submitted = [(index, job, runner.submit(run_job, job)) for index, job in todo]
    for index, job, handle in submitted:
        try:
            finished(index, handle.result())
        except Exception as error:  # the job failed outside run_job (cancelled, timed out)
            message = " ".join(str(error).split())[-300:]
            finished(index, SweepOutcome(job, "failed", 0.0, f"the job failed: {message}"))
