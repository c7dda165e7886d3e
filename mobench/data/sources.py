"""Data sources named by a hub id or a local path, read the same way; one-line errors otherwise.

Paper-scale tasks name hub ids (``PKU-Alignment/PKU-SafeRLHF``); users on clusters without network
pre-download them, so every source may also be a local folder in the hub's layout:

* a dataset repository checked out or copied as is: data files (``.parquet``, ``.jsonl``,
  ``.json``, ``.csv``, ``.arrow``, optionally compressed) named so that the splits follow from
  the names, as ``datasets`` infers them (``train.jsonl``, ``data/test-00000-of-00001.parquet``,
  ``helpful-base/train.jsonl.gz``...); other files (scripts, READMEs) are ignored;
* a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``.

Which files make a split is decided here, before ``datasets`` reads anything, so that a folder
that would load wrongly is refused in one line: one holding a split twice (``test.jsonl`` beside
``test.jsonl.gz``: every row would be read twice) or in two formats, a Git LFS pointer where the
data file should be (a clone made without git-lfs), an empty (0-byte) data file, a sub-folder
that does not exist. A JSON-lines file that ``datasets`` fails to read is scanned then, and its
first malformed line is named (number and what is wrong). When a folder holds other files a
split's name also matches (another jsonl of a different schema, say), the sources'
``data_files`` name the file (or glob) of each split explicitly: keys ``<split>`` or
``<data_dir>/<split>``, paths relative to the dataset folder (or repository) or absolute.

A source that is neither an existing path nor reachable on the hub raises
:class:`~mobench.core.errors.SourceUnavailableError` with one line naming it, never a traceback from
deep inside ``datasets`` or ``huggingface_hub``. Model folders are checked the same way: one that
holds no ``config.json``, or LFS pointers instead of weights, is named as such.
"""

from __future__ import annotations

import bz2
import contextlib
import glob
import gzip
import json
import logging
import lzma
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobench.core.errors import ConfigError, SourceUnavailableError

if TYPE_CHECKING:
    import datasets

# Files datasets.save_to_disk writes at the top of the folder (single split / several splits).
_SAVED_DATASET_MARKERS = ("state.json", "dataset_dict.json")
# Data file formats by extension, and the datasets builder that reads each.
DATA_FORMATS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv",
                ".arrow": "arrow"}
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".lz4")
# What Git LFS leaves in a clone made without it: a small text file starting with this line.
LFS_POINTER_HEADER = b"version https://git-lfs.github.com/spec/v1"
# Library messages (a cast error lists whole schemas) are cut to this many characters.
MAX_DETAIL = 300
# How a JSON-lines file is opened to find a malformed line (other compressions are not scanned).
TEXT_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def is_local_source(source: str) -> bool:
    """True when ``source`` names an existing file or folder (a hub id never does here)."""
    return bool(source) and Path(source).expanduser().exists()


def one_line(text: str, limit: int = 0) -> str:
    """Library messages span lines; the CLI prints one (cut to ``limit`` characters if > 0)."""
    line = " ".join(str(text).split())
    return line if not limit or len(line) <= limit else line[:limit - 3] + "..."


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception behind ``error``: ``datasets`` wraps the informative one (a cast
    error naming the columns) in a generic "error while generating the dataset"."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    return error


def is_lfs_pointer(path: Path) -> bool:
    """Whether ``path`` is a Git LFS pointer file instead of the content it stands for."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(LFS_POINTER_HEADER)) == LFS_POINTER_HEADER
    except OSError:
        return False


def lfs_pointer_message(path: Path) -> str:
    """One line saying that ``path`` is an LFS pointer, and how to fetch the real file."""
    repository = next((p for p in path.parents if (p / ".git").exists()), path.parent)
    return (f"{str(path)!r} is a Git LFS pointer, not the file itself: the repository was cloned "
            f"without git-lfs. Fetch the real files with `git lfs install && git lfs pull` in "
            f"{str(repository)!r}, or download them directly")


def data_format(path: Path) -> str | None:
    """The datasets builder reading ``path`` (``json``, ``parquet``...), None if not data."""
    name = path.name.lower()
    for compression in COMPRESSIONS:
        name = name.removesuffix(compression)
    return DATA_FORMATS.get(Path(name).suffix)


def _uncompressed_name(path: Path) -> str:
    name = path.name
    for compression in COMPRESSIONS:
        name = name.removesuffix(compression)
    return name


def data_file_table(entries: Any) -> dict[str, str]:
    """A sources' ``data_files`` (mapping or pairs) as key -> path or glob."""
    pairs = entries.items() if isinstance(entries, Mapping) else entries
    table: dict[str, str] = {}
    for entry in pairs:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2
                and all(isinstance(x, str) and x for x in entry)):
            raise ValueError(f"data_files entry {entry!r} is not a (split, file) pair of names")
        table[entry[0]] = entry[1]
    return table


def data_file_key(split: str, data_dir: str = "") -> str:
    """The ``data_files`` key of a split read from ``data_dir``."""
    return f"{data_dir.strip('/')}/{split}" if data_dir else split


def check_data_file_keys(data_files: Any, reads: Iterable[tuple[str, str]]) -> None:
    """Refuse ``data_files`` keys naming no split the task reads (``reads``: data_dir, split)."""
    wanted = sorted({data_file_key(split, data_dir) for data_dir, split in reads})
    unknown = sorted(set(data_file_table(data_files)) - set(wanted))
    if unknown:
        raise ConfigError(f"data_files names {unknown[0]!r}, which is no split this task reads; "
                          f"it reads {', '.join(wanted)}")


def load_dataset_split(source: str, split: str, *, config_name: str = "", data_dir: str = "",
                       cache_dir: Path | None = None,
                       data_files: str | None = None) -> datasets.Dataset:
    """One split of a dataset given by hub id or local folder.

    Args:
        source: hub id (``Anthropic/hh-rlhf``) or local folder in the hub layout.
        split: split name (``train``, ``test``).
        config_name: the dataset's configuration name, if it has several ("" for the default).
        data_dir: a sub-folder of the repository to read (hh-rlhf's ``helpful-base``).
        cache_dir: where ``datasets`` keeps its Arrow conversion of a local folder; hub
            downloads always use the shared Hugging Face cache, so a dataset downloaded once (or
            pre-downloaded before going offline) is found again.
        data_files: the split's data file or glob, relative to the folder (or repository) or
            absolute; given, it replaces the inference from file names (and ``data_dir``).
    """
    import datasets

    if is_local_source(source):
        return _load_local_split(Path(source).expanduser(), split, config_name, data_dir,
                                 cache_dir, data_files)
    kwargs: dict[str, Any] = {"split": split}
    if config_name:
        kwargs["name"] = config_name
    if data_files:
        kwargs["data_files"] = {split: data_files}
    elif data_dir:
        kwargs["data_dir"] = data_dir
    try:
        return datasets.load_dataset(source, **kwargs)
    except (ConnectionError, OSError, datasets.exceptions.DatasetNotFoundError) as error:
        raise SourceUnavailableError(
            f"dataset {source!r} is neither a local folder nor reachable on the dataset hub "
            f"({type(error).__name__}: no network, or the id is wrong); download it and pass its "
            "local folder instead") from None
    except ValueError as error:  # an unknown split or config of a dataset that does exist
        raise SourceUnavailableError(f"dataset {source!r}: {one_line(str(error))}") from None


def _load_local_split(folder: Path, split: str, config_name: str, data_dir: str,
                      cache_dir: Path | None, data_files: str | None) -> datasets.Dataset:
    import datasets

    root = folder / data_dir if data_dir else folder
    if data_files:
        files = _named_files(folder, data_files, data_file_key(split, data_dir))
    elif root.is_dir() and any((root / marker).exists() for marker in _SAVED_DATASET_MARKERS):
        return _load_saved(root, split)
    elif config_name:  # the folder's README names each config's files: datasets reads them
        _split_files(folder, root, data_dir, split, any_split=True)
        return _load_configured(folder, split, config_name, data_dir, cache_dir)
    else:
        files = _split_files(folder, root, data_dir, split)
    pointer = next((f for f in files if is_lfs_pointer(f)), None)
    if pointer is not None:
        raise SourceUnavailableError(lfs_pointer_message(pointer))
    # datasets' json reader ends in a bare StopIteration on an empty file; other formats fail on
    # it without saying which file
    empty = next((f for f in files if f.stat().st_size == 0), None)
    if empty is not None:
        raise SourceUnavailableError(f"data file {str(empty)!r} of split {split!r} is empty "
                                     "(0 bytes), as an interrupted download or copy leaves it; "
                                     "fetch it again")
    builder = _one_format(files, split, root)
    kwargs: dict[str, Any] = {"data_files": {split: [str(f) for f in files]}, "split": split}
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)
    try:
        with _quiet_readers():
            return datasets.load_dataset(builder, **kwargs)
    except (ValueError, OSError, EOFError, StopIteration,
            datasets.exceptions.DatasetsError) as error:
        named = ", ".join(f.name for f in files[:3]) + (" ..." if len(files) > 3 else "")
        cause = root_cause(error)
        if isinstance(cause, StopIteration):  # the json reader, on a file of no rows (a .gz)
            raise SourceUnavailableError(f"split {split!r} of {str(root)!r} holds no rows "
                                         f"({named})") from None
        # the json reader's error is a character offset into the file: find the line, only now
        # that reading failed, so that good files are read once
        for path in files if builder == "json" else []:
            bad = _bad_json_line(path)
            if bad is not None:
                raise SourceUnavailableError(
                    f"cannot read split {split!r} of {str(root)!r}: line {bad[0]} of "
                    f"{str(path)!r} is not valid JSON ({bad[1]}); fix or remove that line"
                ) from None
        hint = "" if data_files else ("; if other files match the split's name, name its data "
                                      "file in the sources' data_files")
        raise SourceUnavailableError(
            f"cannot read split {split!r} of {str(root)!r} from {named} ({type(cause).__name__}: "
            f"{one_line(str(cause), MAX_DETAIL)}){hint}") from None


@contextlib.contextmanager
def _quiet_readers() -> Iterator[None]:
    """Silence the errors datasets' file readers log before raising (a json file that fails
    logs "The document is empty"): each failure is told in the one line raised instead."""
    readers = logging.getLogger("datasets.packaged_modules")
    level = readers.level
    readers.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        readers.setLevel(level)


def _bad_json_line(path: Path) -> tuple[int, str] | None:
    """The first line of a JSON-lines file that is no JSON value: (line number, what is wrong).
    None when every line is one, when the file is one JSON document over several lines (a
    ``.json`` array, whose first line is no value alone), or when it cannot be scanned."""
    if path.suffix in COMPRESSIONS and path.suffix not in TEXT_OPENERS:
        return None  # zstd, lz4: no reader in the standard library
    opener = TEXT_OPENERS.get(path.suffix, open)
    first = True
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    json.loads(line)
                except json.JSONDecodeError as error:
                    if first and _uncompressed_name(path).endswith(".json"):
                        return None
                    return number, f"{error.msg} at column {error.colno}"
                first = False
    except (OSError, EOFError):
        return None
    return None


def _load_configured(folder: Path, split: str, config_name: str, data_dir: str,
                     cache_dir: Path | None) -> datasets.Dataset:
    """A split of one configuration of a local dataset repository, as ``datasets`` reads it."""
    import datasets

    kwargs: dict[str, Any] = {"split": split, "name": config_name}
    if data_dir:
        kwargs["data_dir"] = data_dir
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)
    try:
        return datasets.load_dataset(str(folder), **kwargs)
    except (ValueError, OSError, EOFError, datasets.exceptions.DatasetsError) as error:
        raise SourceUnavailableError(f"cannot read split {split!r} of configuration "
                                     f"{config_name!r} of {str(folder)!r} ("
                                     f"{one_line(str(error), MAX_DETAIL)})") from None


def _load_saved(root: Path, split: str) -> datasets.Dataset:
    """A split of a folder written by ``save_to_disk``."""
    import datasets

    try:
        saved = datasets.load_from_disk(str(root))
    except (ValueError, OSError, KeyError) as error:
        raise SourceUnavailableError(f"cannot read the saved dataset {str(root)!r} "
                                     f"({one_line(str(error), MAX_DETAIL)})") from None
    if isinstance(saved, datasets.DatasetDict):
        if split not in saved:
            raise SourceUnavailableError(f"dataset folder {str(root)!r} has no split "
                                         f"{split!r} (it has {', '.join(saved)})")
        return saved[split]
    return saved


def _split_files(folder: Path, root: Path, data_dir: str, split: str, *,
                 any_split: bool = False) -> list[Path]:
    """The data files of ``split`` in ``root``, by datasets' own file-name patterns; refuses a
    missing folder, a split without files, and a split held twice or in two formats. With
    ``any_split``, only the folder and LFS pointers among all its data files are checked."""
    from datasets.data_files import DataFilesDict, get_data_patterns

    if not root.exists():
        where = (f"dataset folder {str(folder)!r} has no sub-folder {data_dir!r}" if data_dir
                 else f"dataset folder {str(root)!r} does not exist")
        raise SourceUnavailableError(f"{where} ({str(root)!r} does not exist)")
    if not root.is_dir():
        raise SourceUnavailableError(f"dataset source {str(root)!r} is a file, not a folder; "
                                     "give its folder, or name the file in the sources' "
                                     "data_files")
    try:
        patterns = get_data_patterns(str(root))
        found = DataFilesDict.from_patterns(patterns, base_path=str(root))
    except (ValueError, FileNotFoundError) as error:
        raise SourceUnavailableError(f"dataset folder {str(root)!r} holds no data files "
                                     f"({one_line(str(error), MAX_DETAIL)})") from None
    by_split = {str(name): [Path(f) for f in files] for name, files in found.items()}
    if any_split:
        every = [f for fs in by_split.values() for f in fs if data_format(f) is not None]
        pointer = next((f for f in every if is_lfs_pointer(f)), None)
        if pointer is not None:
            raise SourceUnavailableError(lfs_pointer_message(pointer))
        return every
    files = [f for f in by_split.get(split, []) if data_format(f) is not None]
    if not files:
        offered = ", ".join(s for s, fs in by_split.items()
                            if any(data_format(f) for f in fs)) or "none"
        raise SourceUnavailableError(
            f"dataset folder {str(root)!r} has no data file for split {split!r} (splits found: "
            f"{offered}); name files by split ({split}.jsonl, {split}-00000-of-00001.parquet...) "
            "or name the file in the sources' data_files")
    twice = _held_twice(files)
    if twice:
        raise SourceUnavailableError(
            f"dataset folder {str(root)!r} holds split {split!r} twice ({' and '.join(twice)}), "
            "which would read every row twice; remove one, or name the one to read in the "
            "sources' data_files")
    return sorted(files)


def _held_twice(files: list[Path]) -> list[str]:
    """Two files that are one file in two compressions (``test.jsonl``, ``test.jsonl.gz``)."""
    seen: dict[tuple[Path, str], Path] = {}
    for path in sorted(files):
        key = (path.parent, _uncompressed_name(path))
        if key in seen:
            return [seen[key].name, path.name]
        seen[key] = path
    return []


def _one_format(files: list[Path], split: str, root: Path) -> str:
    formats = sorted({data_format(f) or "unknown" for f in files})
    if len(formats) != 1:
        raise SourceUnavailableError(
            f"split {split!r} of {str(root)!r} mixes data formats ({', '.join(formats)}); keep "
            "one, or name the files to read in the sources' data_files")
    if formats[0] == "unknown":
        raise SourceUnavailableError(
            f"cannot tell the format of {files[0].name!r} (split {split!r} of {str(root)!r}) "
            f"from its name; data files end in {', '.join(DATA_FORMATS)}")
    return formats[0]


def _named_files(folder: Path, pattern: str, key: str) -> list[Path]:
    """The files ``data_files[key]`` names: a path or glob, relative to ``folder``."""
    full = Path(pattern).expanduser()
    if not full.is_absolute():
        full = folder / full
    files = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
    if not files:
        raise SourceUnavailableError(f"data file {str(full)!r} (data_files {key!r}) does not "
                                     "exist")
    return files


def model_unavailable_message(source: str, error: Exception) -> str:
    """The one-line message for a model source that cannot be loaded."""
    if is_local_source(source):
        return (f"cannot load {source!r} as a transformers model folder: "
                f"{one_line(str(error), MAX_DETAIL)}")
    return (f"model {source!r} is neither a local folder nor reachable on the model hub "
            f"(no network, or the id is wrong); download it and pass its local path instead")


def check_model_folder(source: str) -> None:
    """Refuse, in one line, a local model source that is no model folder: a file, a folder
    without ``config.json``, or one whose weights are Git LFS pointers."""
    if not is_local_source(source):
        return
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise SourceUnavailableError(f"model source {source!r} is a file; give the folder "
                                     "save_pretrained wrote (config.json, weights, tokenizer)")
    if not (folder / "config.json").is_file():
        raise SourceUnavailableError(f"{source!r} is a folder but not a transformers model: it "
                                     "holds no config.json (give the folder save_pretrained "
                                     "wrote, or a hub snapshot)")
    for path in sorted(folder.iterdir()):
        if path.suffix in (".safetensors", ".bin", ".json", ".model") and is_lfs_pointer(path):
            raise SourceUnavailableError(lfs_pointer_message(path))


def load_model_config(source: str, *, trust_remote_code: bool = False):  # type: ignore[no-untyped-def]
    """The transformers config of a model source (a cheap way to learn its architecture)."""
    from transformers import AutoConfig

    check_model_folder(source)
    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SourceUnavailableError(model_unavailable_message(source, error)) from None


def load_tokenizer(source: str, *, trust_remote_code: bool = False):  # type: ignore[no-untyped-def]
    """The tokenizer saved with a model source."""
    from transformers import AutoTokenizer

    check_model_folder(source)
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SourceUnavailableError(model_unavailable_message(source, error)) from None


@dataclass(frozen=True)
class PaperScaleSettings:
    """Sizes and model-serving settings shared by every paper-scale task's sources.

    Attributes:
        max_train_rows: use the first rows of the train data only (0: all of them).
        n_train_prompts: distinct training prompts offered for on-policy training (0: all).
        n_eval_prompts: distinct eval prompts (500; 0: all of them).
        trust_remote_code: let transformers run code shipped with a checkpoint (false).
        dtype: weights' dtype for the policy and reward models (``auto``: the checkpoint's).
        device: reward models' device ("" for the GPU when there is one, else the CPU).
        rm_batch_size: (prompt, response) pairs per reward-model forward pass (16).
        rm_max_length: reward-model truncation length in tokens (1024).
        data_files: the data file (or glob) of a split, by ``<split>`` or ``<data_dir>/<split>``,
            as a mapping or (key, file) pairs; paths relative to the dataset folder (or
            repository) or absolute (default: none; splits follow from file names).
    """

    max_train_rows: int = 0
    n_train_prompts: int = 0
    n_eval_prompts: int = 500
    trust_remote_code: bool = False
    dtype: str = "auto"
    device: str = ""
    rm_batch_size: int = 16
    rm_max_length: int = 1024
    data_files: tuple[tuple[str, str], ...] | Mapping[str, str] = ()

    def __post_init__(self) -> None:
        data_file_table(self.data_files)  # fail early on a malformed entry
        for name in ("max_train_rows", "n_train_prompts", "n_eval_prompts"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (all) or positive")
        if self.rm_batch_size < 1 or self.rm_max_length < 1:
            raise ValueError("rm_batch_size and rm_max_length must be positive")
