"""``mobench sweep``: a grid of runs (methods × tasks × seeds), skipping finished ones, resuming
interrupted ones, and summing up failures at the end without stopping the others.

Each run goes to its default folder under the sweep's root (``ROOT/<task>/<method>/<run-id>``,
the run id digesting the whole resolved spec), so a sweep started again finds its own runs:
``metrics.json`` present means done (skipped) once the run's files verify
(:mod:`mobench.run.artifacts`; damaged ones are repaired and resumed), ``spec.json`` alone means
interrupted (resumed).

A sweep guards itself (:func:`open_output`): an output it cannot write is refused before any run
starts, and a second sweep on the same output is refused while the first runs, naming its pid.

Executors, none of them home-made:

- ``local`` (default): ``--jobs N`` worker processes from :mod:`concurrent.futures`, one fresh
  process per run (spawned, so no CUDA or thread state leaks between runs), each with the
  machine's cores split between the workers as torch threads (``--threads`` fixes the count,
  which the numbers depend on: :mod:`mobench.core.threads`). The workers die with the sweep
  (killed, even with ``kill -9``, they are not left running and holding their runs' locks);
- ``slurm``: one SLURM job per run through submitit, submitted as one job array (partition,
  time limit, CPUs, memory and GPUs per job, extra sbatch parameters, a limit on the jobs running
  at once: :class:`SlurmSettings`); the sweep reports each job's state and log. A job that is
  cancelled or reaches its time limit leaves its run to be resumed by the next sweep, from its
  last checkpoint;
- ``submitit-local``: submitit's local executor, the same code path as ``slurm`` without a
  cluster.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import fcntl
import logging
import multiprocessing
import os
import select
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mobench.core import store
from mobench.core.errors import ConfigError, MobenchError, RunFolderError
from mobench.core.progress import progress
from mobench.core.text import plural
from mobench.run.artifacts import is_finished, repair_if_damaged, run_damage
from mobench.run.runspec import default_run_folder, resolve_run_spec, task_spec

Executor = Literal["local", "slurm", "submitit-local"]
EXECUTORS: tuple[str, ...] = ("local", "slurm", "submitit-local")
SWEEP_LOCK = ".sweep.lock"  # in the sweep's root: one sweep at a time on an output
SUBMITIT_DIR = ".submitit"  # in the sweep's root: one folder per sweep that submits jobs
# SLURM states in which a job ended without finishing its function
KILLED_STATES = ("CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "DEADLINE",
                 "BOOT_FAIL")
logger = logging.getLogger("mobench")


@dataclass(frozen=True)
class SlurmSettings:
    """What each SLURM job asks for (used by the ``slurm`` executor only); from ``--slurm-*``
    flags or a cluster file (:func:`slurm_settings`).

    Attributes:
        partition: the partition to submit to ("" for the cluster's default).
        time_min: the job's time limit in minutes (submitit signals the job 90 s before it: the
            run stops there, and the next sweep resumes it from its last checkpoint).
        gpus_per_node: GPUs per job (0: none asked for).
        cpus_per_task: CPU cores per job.
        mem_gb: memory per job in GiB (0: the cluster's default).
        sbatch: more ``#SBATCH`` parameters, (name, value) pairs (``("account", "mylab")``;
            value "" for a flag without one, ``("exclusive", "")``); they win over the above.
        array_limit: at most this many of the sweep's jobs run at once (the job array's ``%N``;
            0: as many as the cluster gives).
    """

    partition: str = ""
    time_min: int = 240
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 0
    sbatch: tuple[tuple[str, str], ...] = ()
    array_limit: int = 0


SLURM_KEYS = tuple(f.name for f in dataclasses.fields(SlurmSettings))


def slurm_settings(file_values: Mapping[str, Any] | None = None,
                   **flags: Any) -> SlurmSettings:
    """Settings from a cluster file's mapping (``file_values``, keys as in
    :class:`SlurmSettings`; ``sbatch`` a mapping) overridden by the flags given (None: not
    given; ``sbatch`` a list of ``NAME=VALUE``, added to the file's)."""
    values: dict[str, Any] = {}
    sbatch: dict[str, str] = {}
    for key, value in (file_values or {}).items():
        if key not in SLURM_KEYS:
            raise ConfigError(f"unknown SLURM setting {key!r}; valid: {', '.join(SLURM_KEYS)}")
        if key == "sbatch":
            if not isinstance(value, Mapping):
                raise ConfigError("the SLURM setting 'sbatch' must map parameter names to "
                                  "values, e.g. {account: mylab}")
            sbatch.update({_sbatch_name(str(k)): _sbatch_value(v) for k, v in value.items()})
        else:
            values[key] = value
    for item in flags.pop("sbatch", None) or ():
        name, equals, value = str(item).partition("=")
        sbatch[_sbatch_name(name)] = value if equals else ""
    values.update({k: v for k, v in flags.items() if v is not None})
    unknown = sorted(set(values) - set(SLURM_KEYS))
    if unknown:
        raise ConfigError(f"unknown SLURM setting {unknown[0]!r}")
    if not isinstance(values.get("partition", ""), str):
        raise ConfigError("the SLURM setting 'partition' must be a name")
    lowest = {"time_min": 1, "gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 0,
              "array_limit": 0}
    for key, least in lowest.items():
        if key in values and (isinstance(values[key], bool) or not isinstance(values[key], int)
                              or values[key] < least):
            raise ConfigError(f"the SLURM setting {key!r} must be an integer of at least "
                              f"{least}, got {values[key]!r}")
    return SlurmSettings(**{**values, "sbatch": tuple(sorted(sbatch.items()))})


def _sbatch_name(name: str) -> str:
    name = name.strip().lstrip("-")
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ConfigError(f"not an sbatch parameter name: {name!r}")
    return name


def _sbatch_value(value: Any) -> str:
    if value is True or value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"an sbatch parameter's value must be text or a number, got {value!r}")


def read_slurm_file(path: str | Path) -> dict[str, Any]:
    """A cluster file: YAML mapping of :class:`SlurmSettings` keys (a ``slurm:`` section of its
    own, or at the top)."""
    from mobench.core.config import load_yaml_file

    data = load_yaml_file(path)
    if set(data) == {"slurm"}:
        data = data["slurm"]
    if not isinstance(data, Mapping):
        raise ConfigError(f"{str(path)!r}: the SLURM settings must be a mapping")
    return dict(data)


def slurm_parameters(settings: SlurmSettings) -> dict[str, Any]:
    """submitit's parameters (its AutoExecutor's names) for jobs asking for ``settings``."""
    parameters: dict[str, Any] = {"timeout_min": settings.time_min,
                                  "cpus_per_task": settings.cpus_per_task, "nodes": 1,
                                  "tasks_per_node": 1, "name": "mobench"}
    if settings.gpus_per_node:
        parameters["gpus_per_node"] = settings.gpus_per_node
    if settings.partition:
        parameters["slurm_partition"] = settings.partition
    if settings.mem_gb:
        parameters["mem_gb"] = settings.mem_gb
    if settings.array_limit:
        parameters["slurm_array_parallelism"] = settings.array_limit
    if settings.sbatch:
        parameters["slurm_additional_parameters"] = {
            name: value if value != "" else True for name, value in settings.sbatch}
    return parameters


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
        cluster_job: the SLURM (or submitit) job that ran it ("" for a local worker).
        state: that job's final state as the cluster tells it (``COMPLETED``, ``CANCELLED by
            0``, ``TIMEOUT``...; "" when unknown or local).
        log: the job's log (its standard error; the standard output lies beside it).
    """

    job: SweepJob
    status: str
    seconds: float = 0.0
    error: str = ""
    cluster_job: str = ""
    state: str = ""
    log: str = ""

    @property
    def where(self) -> str:
        """The cluster job, its state and log, for a message ("" for a local run)."""
        if not self.cluster_job:
            return ""
        state = f", {self.state}" if self.state else ""
        log = f"; log {self.log}" if self.log else ""
        return f"job {self.cluster_job}{state}{log}"


@dataclass
class SweepSummary:
    """Every outcome of a sweep, in the grid's order, and the runs repaired before it ran
    (run folder -> what was damaged)."""

    outcomes: list[SweepOutcome] = field(default_factory=list)
    repaired: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[SweepOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def format(self) -> str:
        counts = {status: sum(o.status == status for o in self.outcomes)
                  for status in ("done", "skipped", "failed")}
        lines = [f"sweep: {len(self.outcomes)} runs: {counts['done']} done, "
                 f"{counts['skipped']} already complete, {counts['failed']} failed"]
        for folder, damage in self.repaired.items():
            lines.append(f"  repaired: {folder}: {damage}")
        for outcome in self.failed:
            lines.append(f"  failed: {outcome.job.label}: {outcome.error}")
            if outcome.where:
                lines.append(f"          {outcome.where}")
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


@contextmanager
def open_output(root: Path) -> Iterator[Path]:
    """Hold the sweep's output ``root`` for the block: refuse, before anything runs, a root that
    cannot be written, or one another sweep holds (its pid named). The hold is an ``flock`` on
    ``ROOT/.sweep.lock``, so a sweep that dies, even by ``kill -9``, lets go of it."""
    from mobench.run.runfolder import check_writable

    root = Path(root)
    check_writable(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / SWEEP_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise RunFolderError(store.os_error_message(root, error)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise RunFolderError(f"sweep output {str(root)!r} is in use by another sweep "
                                 f"({holder}); wait for it to finish, or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"mobench sweep pid {os.getpid()}\n".encode(), 0)
        try:
            yield root
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


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
        if job.resume or is_finished(folder):
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
    """Whether the job's run finished and its files verify (:mod:`mobench.run.artifacts`)."""
    return is_finished(Path(job.folder)) and not run_damage(Path(job.folder))


def run_job(job: SweepJob, reraise: tuple[type[BaseException], ...] = ()) -> SweepOutcome:
    """Execute one run (in a worker process or a cluster job); never raises (but the errors of
    the types ``reraise`` names)."""
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
    except reraise:
        raise
    except MobenchError as error:
        return SweepOutcome(job, "failed", time.perf_counter() - started, str(error))
    except Exception as error:  # a bug in one method must not stop the others
        last = traceback.extract_tb(error.__traceback__)[-1]
        where = f" ({Path(last.filename).name}:{last.lineno})"
        return SweepOutcome(job, "failed", time.perf_counter() - started,
                            f"{type(error).__name__}: {error}{where}")
    return SweepOutcome(job, "done", time.perf_counter() - started)


def run_cluster_job(job: SweepJob) -> SweepOutcome:
    """:func:`run_job` as a submitit job (SLURM's or submitit's local one): the harness's
    messages (resumes, legs) go to the job's log, and submitit's warning of the time limit
    (SIGUSR2, 90 s ahead on SLURM) stops the run, which the next sweep resumes."""
    from submitit.core.utils import UncompletedJobError

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mobench: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        return run_job(job, reraise=(UncompletedJobError,))
    except UncompletedJobError as error:
        logger.warning("stopped: %s", error)
        return SweepOutcome(job, "failed", time.perf_counter() - started,
                            "stopped ahead of the job's time limit")
    finally:
        logger.removeHandler(handler)


def run_sweep(jobs: Sequence[SweepJob], *, executor: Executor = "local", workers: int = 1,
              slurm: SlurmSettings = SlurmSettings(), submitit_folder: Path | None = None,
              on_outcome: Callable[[SweepOutcome], None] = lambda outcome: None
              ) -> SweepSummary:
    """Run ``jobs`` and return every outcome in the jobs' order. A finished run is skipped when
    its files verify; otherwise its derived files are removed and it is resumed (the repaired
    runs are in the summary)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose {', '.join(EXECUTORS)}")
    outcomes: dict[int, SweepOutcome] = {}
    repaired: dict[str, str] = {}
    todo: list[tuple[int, SweepJob]] = []
    for index, job in enumerate(jobs):
        if is_finished(Path(job.folder)):
            try:
                damage = repair_if_damaged(Path(job.folder),
                                           busy_hint="wait for it, or stop what runs there")
            except RunFolderError as error:
                outcomes[index] = SweepOutcome(job, "failed", error=str(error))
                on_outcome(outcomes[index])
                continue
            if not damage:
                outcomes[index] = SweepOutcome(job, "skipped")
                on_outcome(outcomes[index])
                continue
            repaired[job.folder] = damage
            job = dataclasses.replace(job, resume=True)
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
    return SweepSummary([outcomes[i] for i in range(len(jobs))], repaired)


def run_job_here(job: SweepJob, environ: dict[str, str], cwd: str) -> SweepOutcome:
    """:func:`run_job` in the environment and working folder the sweep was started from."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    return run_job(job)


def die_with(parent: int) -> None:
    """A local worker's initializer: SIGKILL the worker as soon as the sweep process ``parent``
    ends, however it ends (``kill -9`` included), so that no worker goes on running a run, and
    holding its lock, for a sweep that is gone. Its parent is the fork server, not the sweep, so
    the watch is on the sweep's pid (a pidfd where Linux has them, else polling); with the
    workers gone, the fork server and the resource tracker end too."""
    def watch() -> None:
        try:
            handle = os.pidfd_open(parent)
        except ProcessLookupError:
            handle = None  # gone already
        except (AttributeError, OSError):
            while _alive(parent):
                time.sleep(0.5)
            handle = None
        if handle is not None:
            select.select([handle], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="mobench-sweep-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def _kill_workers(executor: concurrent.futures.ProcessPoolExecutor) -> None:
    """SIGKILL the pool's worker processes (the sweep is stopping: their runs resume later)."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        try:
            process.kill()
        except (OSError, ValueError):
            pass


def _run_local(todo: Sequence[tuple[int, SweepJob]], workers: int,
               finished: Callable[[int, SweepOutcome], None]) -> None:
    """Run in a pool of fresh worker processes (:func:`worker_context`), one per run, at most
    ``workers`` in flight. A worker killed from outside (out of memory, a signal) breaks the
    whole pool and fails every run in flight with it; those runs are then tried once more, each
    alone in a pool of its own (they resume from what they had written), so only the run that
    killed its worker is reported failed and the sweep goes on. A sweep stopped by Ctrl-C or
    SIGTERM kills its workers on the way out rather than waiting for their runs."""
    queue = collections.deque(todo)
    context = worker_context([job for _, job in todo])

    def pool(size: int) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=size, mp_context=context, max_tasks_per_child=1,
            initializer=die_with, initargs=(os.getpid(),))

    while queue:
        suspects: list[tuple[int, SweepJob]] = []
        with pool(max(1, workers)) as executor:
            try:
                flying: dict[concurrent.futures.Future[SweepOutcome], tuple[int, SweepJob]] = {}
                while queue or flying:
                    while queue and len(flying) < max(1, workers) and not suspects:
                        index, job = queue.popleft()
                        flying[executor.submit(run_job_here, job, dict(os.environ),
                                               os.getcwd())] = (index, job)
                    if not flying:
                        break
                    done, _ = concurrent.futures.wait(
                        flying, return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in done:
                        index, job = flying.pop(future)
                        try:
                            finished(index, future.result())
                        except concurrent.futures.process.BrokenProcessPool:
                            suspects.append((index, job))
                    if suspects:  # the pool is gone: whatever else was in flight failed with it
                        suspects += list(flying.values())
                        break
            except BaseException:
                _kill_workers(executor)
                raise
        for index, job in suspects:
            with pool(1) as alone:
                try:
                    finished(index, alone.submit(run_job_here, job, dict(os.environ),
                                                 os.getcwd()).result())
                except concurrent.futures.process.BrokenProcessPool as error:
                    finished(index, SweepOutcome(job, "failed", 0.0,
                                                 f"the worker process died: {error}"))
                except BaseException:
                    _kill_workers(alone)
                    raise


def submitit_folder_for(root: Path) -> Path:
    """A new folder for one sweep's submitit files (pickles, logs) under ``root``: a fresh
    cluster numbers its jobs from 1 again, so a folder shared with earlier sweeps could hand
    back an earlier job's result for a new job of the same number."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root).resolve() / SUBMITIT_DIR / f"{stamp}-{os.getpid()}"


def _run_submitit(todo: Sequence[tuple[int, SweepJob]], executor: str, slurm: SlurmSettings,
                  folder: Path | None, finished: Callable[[int, SweepOutcome], None]) -> None:
    if not todo:
        return
    import submitit

    logs = folder or submitit_folder_for(Path(todo[0][1].folder).parents[2])
    runner: Any
    if executor == "slurm":
        runner = submitit.AutoExecutor(folder=str(logs), cluster="slurm")
        runner.update_parameters(**slurm_parameters(slurm))
        try:
            with runner.batch():  # one job array: one sbatch call for the whole sweep
                handles = [runner.submit(run_cluster_job, job) for _, job in todo]
        except Exception as error:  # sbatch refused (a partition that is not there, say)
            message = " ".join(str(error).split())[-400:]
            raise MobenchError(f"SLURM did not take the sweep's jobs: {message}") from None
        array = f" (array {handles[0].job_id.split('_')[0]})" if len(handles) > 1 else ""
        limit = f", at most {slurm.array_limit} at once" if slurm.array_limit else ""
        logger.info("submitted %s%s%s; logs in %s", plural(len(handles), "SLURM job"), array,
                    limit, logs)
    else:
        runner = submitit.LocalExecutor(folder=str(logs))
        runner.update_parameters(timeout_min=slurm.time_min)
        handles = [runner.submit(run_cluster_job, job) for _, job in todo]
    waiting = {handle.job_id: (index, job, handle)
               for (index, job), handle in zip(todo, handles, strict=True)}
    try:
        _collect(waiting, executor == "slurm", finished)
    except BaseException:
        if executor == "slurm" and waiting:
            logger.warning("the sweep stopped; its SLURM jobs %s go on (`scancel` them to "
                           "stop them; the next sweep skips or resumes their runs)",
                           " ".join(sorted(waiting)))
        raise


def _collect(waiting: dict[str, tuple[int, SweepJob, Any]], slurm: bool,
             finished: Callable[[int, SweepOutcome], None]) -> None:
    """Report each job as it ends, with its state and log. SLURM states come from the cluster's
    accounting (``sacct``, as submitit reads them), asked for every job at once, every 2 s at
    first and at most every minute later on."""
    started = time.monotonic()
    asked = float("-inf")
    seen: dict[str, float] = {}
    while waiting:
        now = time.monotonic()
        if slurm and now - asked >= min(60.0, max(2.0, (now - started) / 10)):
            next(iter(waiting.values()))[2].get_info(mode="force")
            asked = now
        for job_id, (index, job, handle) in list(waiting.items()):
            if not (_slurm_job_ended(handle, now, seen) if slurm else handle.done()):
                continue
            del waiting[job_id]
            finished(index, _job_outcome(job, handle, slurm))
        if waiting:
            time.sleep(0.5)


def _slurm_job_ended(handle: Any, now: float, seen: dict[str, float]) -> bool:
    """Whether a SLURM job can be reported: it left its result and the cluster calls it ended
    (or accounting has lagged 30 s behind the result), or the cluster calls it ended without
    one: at once when it was killed, else after 15 s (a result may be on its way on a slow
    shared file system)."""
    has_result = handle.paths.result_pickle.exists()
    ended = handle.watcher.is_done(handle.job_id, mode="cache")
    if not (has_result or ended):
        return False
    waited = now - seen.setdefault(handle.job_id, now)
    if has_result:
        return ended or waited >= 30
    return _state(handle).split()[0] in KILLED_STATES or waited >= 15


def _state(handle: Any) -> str:
    return str(handle.watcher.get_state(handle.job_id, mode="cache"))


def _job_outcome(job: SweepJob, handle: Any, slurm: bool) -> SweepOutcome:
    state = _state(handle) if slurm else ""
    where = {"cluster_job": str(handle.job_id), "state": state if state != "UNKNOWN" else "",
             "log": str(handle.paths.stderr)}
    outcome = None
    if handle.paths.result_pickle.exists():
        try:
            outcome = handle.result()
        except Exception as error:  # the function failed outside run_job, or was interrupted
            message = " ".join(str(error).split())[-300:]
            outcome = SweepOutcome(job, "failed", 0.0, f"the job failed: {message}")
    killed = state.split()[0] in KILLED_STATES if state else False
    if outcome is None or (killed and outcome.status != "done"):
        outcome = SweepOutcome(job, "failed", outcome.seconds if outcome else 0.0,
                               _ended_because(state, outcome))
    return dataclasses.replace(outcome, **where)


def _ended_because(state: str, outcome: SweepOutcome | None) -> str:
    word = state.split()[0] if state else ""
    reasons = {"CANCELLED": "the job was cancelled", "TIMEOUT": "the job reached its time limit",
               "OUT_OF_MEMORY": "the job ran out of memory", "PREEMPTED": "the job was preempted",
               "NODE_FAIL": "the job's node failed", "DEADLINE": "the job reached its deadline",
               "BOOT_FAIL": "the job's node did not boot"}
    if word in reasons:
        return f"{reasons[word]} ({state})"
    if outcome is not None:
        return outcome.error
    return f"the job ended {state or 'without a result'} and left no result"
