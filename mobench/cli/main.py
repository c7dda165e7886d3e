"""The ``mobench`` command line: run, list, generate, eval.

Every subcommand is a small function over the harness. A user-facing problem (bad name, malformed
preference, unknown config key, folder in use...) prints one line and exits non-zero, with no
traceback and nothing half-written.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from mobench import __version__
from mobench.cli.arguments import threads_argument
from mobench.core import registry
from mobench.core.errors import ConfigError, MobenchError
from mobench.core.notices import quiet_cpu_fallback_notice
from mobench.core.progress import quiet_library_progress

EXIT_USAGE = 2
EXIT_TERMINATED = 128 + signal.SIGTERM
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# Options whose value may start with "-" (a negative weight): argparse would take it for a flag.
DASH_VALUE_OPTIONS = ("--preference",)
NEGATIVE_START = re.compile(r"-[0-9.]")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line, like every other mobench error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mobench: error: {message} (see `{self.prog} --help`)\n")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- run
def cmd_run(args: argparse.Namespace) -> int:
    from mobench.run.results import format_summary
    from mobench.run.runner import RunHooks, default_run_folder, execute_run, resolve_run_spec

    spec = resolve_run_spec(args.method, args.task, scale=args.scale, seed=args.seed,
                            config_file=args.config, overrides=args.overrides)
    folder = Path(args.output) if args.output else default_run_folder(spec)
    _say(f"mobench: {spec.method} on {spec.task} ({spec.scale}, seed {spec.seed}) -> {folder}")
    if args.resume:
        from mobench.run.artifacts import is_finished, repair_if_damaged
        from mobench.run.runfolder import check_run_folder

        if is_finished(folder):
            check_run_folder(folder, spec, resume=True)  # this very run, before touching it
            # a finished run is "already complete" only if its files verify; damaged derived
            # files are removed here and the runner recomputes them from the records
            repair_if_damaged(folder)
    outcome = execute_run(spec, folder, resume=args.resume, device=args.device,
                          hooks=RunHooks(on_stage=lambda stage: _say(f"mobench: {stage}")))
    if outcome.resumed_complete:
        _say("mobench: this run was already complete; showing its metrics")
    print(format_summary(outcome.metrics))
    print(f"run folder: {outcome.folder}")
    return 0


# ---------------------------------------------------------------------------------------- list
def cmd_list(args: argparse.Namespace) -> int:
    reg = registry.methods if args.what == "methods" else registry.tasks
    entries = reg.entries()
    for reason in reg.broken().values():
        _say(f"mobench: warning: {reason}")
    if not entries:
        print(f"no {args.what} registered")
        return 0
    width = max(len(e.name) for e in entries)
    for entry in entries:
        scales = getattr(entry.target, "scales", None)
        suffix = f"  [{', '.join(scales)}]" if scales else ""
        print(f"{entry.name.ljust(width)}  {entry.description}{suffix}")
    return 0


# ------------------------------------------------------------------------------------ generate
def cmd_generate(args: argparse.Namespace) -> int:
    from mobench.core.policy import derive_seed
    from mobench.core.specs import parse_preference
    from mobench.run.runner import load_run, load_trained_policy
    from mobench.toolkit.serving import answering_preferences

    folder = Path(args.run_dir)
    spec, _ = load_run(folder)
    task_spec_ = _task_spec(spec)
    preference = parse_preference(args.preference, len(task_spec_.objectives))
    from mobench.run.inputs import read_prompts

    prompts = ([args.prompt] if args.prompt is not None
               else [p for _, p in read_prompts(args.prompts)])
    decoding = spec.evaluation.decoding
    if args.max_new_tokens is not None:
        decoding = _replace(decoding, max_new_tokens=args.max_new_tokens)
    if args.greedy:
        decoding = _replace(decoding, do_sample=False)
    policy, _ = load_trained_policy(folder, spec, device=args.device)
    unknown = unknown_words(getattr(policy, "tokenizer", None), prompts)
    if unknown:
        _say(f"mobench: warning: the policy's tokenizer has no token for "
             f"{', '.join(repr(w) for w in unknown)}: the model reads <unk> there (the tiny "
             "scale's tokenizer knows only its tasks' words, lower case)")
    answered = answering_preferences(policy, preference[None, :])[0]
    if not np.array_equal(answered, preference):
        _say(f"mobench: this policy serves only its trained preferences; the nearest one, "
             f"{_vector(answered)}, answers {_vector(preference)}")
    generations = policy.generate(prompts, np.repeat(answered[None, :], len(prompts), axis=0),
                                  decoding, derive_seed(args.seed, 0))
    for prompt, generation in zip(prompts, generations, strict=True):
        if args.json:
            print(json.dumps({"prompt": prompt, "preference": preference.tolist(),
                              "answered_preference": answered.tolist(),
                              "response": generation.text, "n_tokens": generation.n_tokens},
                             ensure_ascii=False))
        else:
            print(f"> {prompt}\n{generation.text}\n")
    return 0


def unknown_words(tokenizer, prompts: Sequence[str]) -> list[str]:  # type: ignore[no-untyped-def]
    """The words of ``prompts`` (split at spaces, first appearance first) that ``tokenizer``
    maps to its unknown token in part or whole; none without a tokenizer or an unknown token."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if tokenizer is None or unk is None:
        return []
    found: list[str] = []
    for prompt in prompts:
        for word in prompt.split():
            if word not in found and unk in tokenizer(word, add_special_tokens=False)["input_ids"]:
                found.append(word)
    return found


def _vector(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def _replace(obj, **changes):  # type: ignore[no-untyped-def]
    import dataclasses

    try:
        return dataclasses.replace(obj, **changes)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _task_spec(spec):  # type: ignore[no-untyped-def]
    from mobench.run.runner import task_spec

    return task_spec(spec)


# ---------------------------------------------------------------------------------------- eval
def cmd_eval(args: argparse.Namespace) -> int:
    from mobench.run.evalrun import evaluate_saved_run
    from mobench.run.results import format_summary

    folder = Path(args.run_dir)
    outcome = evaluate_saved_run(folder, task=args.task, preferences_file=args.preferences,
                                 prompts_file=args.prompts, seed=args.seed, name=args.name,
                                 overrides=args.overrides, device=args.device,
                                 on_stage=lambda stage: _say(f"mobench: {stage}"))
    print(format_summary(outcome.metrics))
    print(f"evaluation folder: {outcome.folder}")
    return 0


# -------------------------------------------------------------------------------------- export
def cmd_export(args: argparse.Namespace) -> int:
    from mobench.run.export import export_run

    outcome = export_run(Path(args.run_dir), args.preference, Path(args.output),
                         merge=args.merge, device=args.device)
    if not np.array_equal(outcome.answered_preference, outcome.preference):
        _say(f"mobench: this policy serves only its trained preferences; exported the nearest, "
             f"{_vector(outcome.answered_preference)}")
    what = "merged model" if outcome.kind == "merged-model" else "peft LoRA adapter"
    # the base model path is what adapter_config.json names; saying it after the output
    # folder keeps "to OUT" the sentence's point
    base = (f" (its base model, named in adapter_config.json: {outcome.base_model})"
            if outcome.base_model else "")
    print(f"exported a {what} at {_vector(outcome.answered_preference)} to "
          f"{outcome.directory}{base}")
    return 0


def seed_argument(text: str) -> int:
    """argparse type of a ``--seed``: an integer every generator accepts."""
    from mobench.core.specs import check_seed

    try:
        return check_seed(int(text))
    except (ValueError, ConfigError) as error:
        raise argparse.ArgumentTypeError(str(error) if isinstance(error, ConfigError)
                                         else f"not an integer: {text!r}") from None


THREADS_HELP = ("torch threads (default: torch's, one per core); the numbers depend on it, and "
                "the committed leaderboards ran with 1")


# ---------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mobench", description="Benchmark multi-objective alignment methods.")
    parser.add_argument("--version", action="version", version=f"mobench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="train a method on a task, evaluate it, write a run folder")
    run.add_argument("--method", required=True, help="method name (see `mobench list methods`)")
    run.add_argument("--task", required=True, help="task name (see `mobench list tasks`)")
    run.add_argument("--scale", choices=["tiny", "paper"], default=None,
                     help="tiny (self-contained, CPU; default) or paper (real data and models)")
    run.add_argument("--seed", type=seed_argument, default=None,
                     help="seed for everything (default 0)")
    run.add_argument("--config", help="YAML file with method:, task:, eval: sections")
    run.add_argument("--output", help="run folder (default runs/<task>/<method>/<run-id>)")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted run in its folder without redoing finished work")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                     help="where to train and generate (auto: CUDA at paper scale when present)")
    run.add_argument("--threads", type=threads_argument, default=None, help=THREADS_HELP)
    run.add_argument("overrides", nargs="*", metavar="key=value",
                     help="config overrides, e.g. method.train.steps=200 eval.batch_size=16")
    run.set_defaults(handler=cmd_run)

    lister = sub.add_parser("list", help="list registered methods or tasks")
    lister.add_argument("what", choices=["methods", "tasks"])
    lister.set_defaults(handler=cmd_list)

    gen = sub.add_parser("generate", help="answer prompts with a trained policy at a trade-off")
    gen.add_argument("run_dir", help="a run folder written by `mobench run`")
    gen.add_argument("--preference", required=True, help="weights per objective, e.g. 0.2,0.8")
    source = gen.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", help="one prompt")
    source.add_argument("--prompts", help="a file: one prompt per line, or JSONL with 'prompt'")
    gen.add_argument("--seed", type=seed_argument, default=0, help="sampling seed (default 0)")
    gen.add_argument("--max-new-tokens", type=int, default=None)
    gen.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    gen.add_argument("--json", action="store_true", help="one JSON object per answer")
    gen.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    gen.set_defaults(handler=cmd_generate)

    ev = sub.add_parser("eval", help="evaluate a saved policy again (other grid, other prompts)")
    ev.add_argument("run_dir", help="a run folder written by `mobench run`")
    ev.add_argument("--task", help="evaluate on another task with the same objectives' count")
    ev.add_argument("--preferences", help="a file of preference vectors, one per line")
    ev.add_argument("--prompts", help="a file: one prompt per line, or JSONL with 'prompt'")
    ev.add_argument("--seed", type=seed_argument, default=None,
                    help="decoding seed (default: the run's)")
    ev.add_argument("--name", help="name of the evaluation folder under RUN_DIR/evals/")
    ev.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ev.add_argument("--threads", type=threads_argument, default=None, help=THREADS_HELP)
    ev.add_argument("overrides", nargs="*", metavar="key=value",
                    help="evaluation overrides, e.g. eval.decoding.temperature=0.7")
    ev.set_defaults(handler=cmd_eval)

    exp = sub.add_parser("export", help="write a trained policy at one preference as a peft "
                         "LoRA adapter (or a merged transformers model) to serve elsewhere")
    exp.add_argument("run_dir", help="a run folder written by `mobench run`")
    exp.add_argument("--preference", required=True, help="weights per objective, e.g. 0.2,0.8")
    exp.add_argument("--output", required=True, help="a new (or empty) folder to write")
    exp.add_argument("--merge", action="store_true",
                     help="merge the adapter into the base model: a plain transformers model")
    exp.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    exp.set_defaults(handler=cmd_export)

    from mobench.cli.leaderboard import add_leaderboard_commands

    add_leaderboard_commands(sub)
    return parser


def show_harness_messages() -> None:
    """The harness's own progress notes (``mobench`` logger: resumes, legs) as "mobench:" lines."""
    logger = logging.getLogger("mobench")
    if not any(getattr(h, "mobench_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("mobench: %(message)s"))
        handler.mobench_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that cleanups run on the way out."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def attach_dash_values(argv: Sequence[str]) -> list[str]:
    """``--preference -0.2,1.2`` as ``--preference=-0.2,1.2``, so the value's own check speaks
    (argparse takes a value starting with "-" that is not a plain number for an option)."""
    out: list[str] = []
    for item in argv:
        if out and out[-1] in DASH_VALUE_OPTIONS and NEGATIVE_START.match(item):
            out[-1] = f"{out[-1]}={item}"
        else:
            out.append(item)
    return out


def disk_full_message(error: OSError, command: str) -> str:
    """One line for a write that found the disk (or the quota) full: where, and what next.
    What was written before stays usable: files are replaced whole, and a records line torn by
    the failed append is dropped when the run resumes."""
    where = f" writing {error.filename!r}" if error.filename else ""
    then = {"run": "; free some space, then continue with --resume",
            "eval": "; free some space, then run the same command again to continue"}
    return f"no space left on the device{where}{then.get(command, '; free some space and retry')}"


def resume_hint(command: str) -> str:
    """What a stopped command's user does next."""
    if command == "run":
        return "; continue with --resume"
    if command == "eval":
        return "; run the same command again to continue"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    quiet_library_progress()
    show_harness_messages()
    # key=value overrides may come before or after options; argparse alone keeps only one run
    # of positionals, so the stragglers are collected here.
    argv = attach_dash_values(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    stray = [a for a in extra
             if a.startswith("-") or "=" not in a or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    quiet_cpu_fallback_notice(getattr(args, "device", "auto"))
    if args.command in ("run", "eval") and args.threads is not None:
        from mobench.core.threads import set_torch_threads

        set_torch_threads(args.threads)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return int(args.handler(args))
    except MobenchError as error:
        _say(f"mobench: error: {error}")
        return 1
    except OSError as error:
        if error.errno not in DISK_FULL:
            raise
        _say(f"mobench: error: {disk_full_message(error, args.command)}")
        return 1
    except KeyboardInterrupt:
        _say(f"mobench: interrupted{resume_hint(args.command)}")
        return 130
    except Terminated:
        _say(f"mobench: terminated (SIGTERM){resume_hint(args.command)}")
        return EXIT_TERMINATED
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
