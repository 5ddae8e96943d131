"""Run directories: config, status, history, metrics, checkpoints and predictions, all written atomically.

Layout of one run directory::

    <run_dir>/
        config.yaml      the full configuration the run used
        status.json      state, progress, message, pid, timestamps (polled by the dashboard)
        history.json     one record per epoch: {"epoch", "train_loss", "val_loss", ...}
        metrics.json     evaluation results (schema in docs/design.md, 7. Contracts and 8. Run folders)
        checkpoints/     ``last.pt`` and ``best.pt``
        predictions.nc   test-period predictions (NetCDF)
        log.txt          the worker's stdout and stderr
        models/<name>/   further models of the same run (e.g. baselines), each with the files of a
                         run (checkpoints/, history.json, metrics.json, predictions.nc);
                         ``baselines/<name>/`` in runs written before this layout, still read

:meth:`RunDir.model_dir` and :meth:`RunDir.model_names` are the one way to reach those folders.

Every write goes through ``core.atomic_io`` (a temporary file in the same folder, then ``os.replace``), so a reader (or a
run killed mid-write) only ever sees a whole old file or a whole new file.

The readers never raise on a damaged file (hand-edited, truncated by a full disk, replaced by a
folder): ``read_status`` then reports the state ``"damaged"`` with the file and the reason,
``read_metrics``/``read_history``/``safe_config`` return empty results, and :meth:`RunDir.damage`
lists every damaged file, so one bad run cannot take a page down.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import yaml

from core.atomic_io import atomic_write_json, atomic_write_yaml
from core.runs.safe_names import safe_file_name

STATES = ("pending", "running", "completed", "failed", "cancelled")
FINAL_STATES = ("completed", "failed", "cancelled")
DAMAGED = "damaged"
"""The state ``read_status`` reports for an unreadable status.json (never written to disk)."""
KINDS = ("hydro", "rain")


class NotARunFolder(ValueError):
    """A ``--run-dir`` that cannot be a folder: it, or a folder above it, is a file."""

    def __init__(self, path: Path, blocker: Path):
        self.path, self.blocker = Path(path), Path(blocker)
        what = "is a file" if self.blocker == self.path else f"lies under the file {self.blocker}"
        super().__init__(f"run directory {self.path} {what}, not a folder; give --run-dir a folder "
                         "(new or an existing run)")


def check_run_path(path: str | os.PathLike) -> Path:
    """``path`` made absolute; :class:`NotARunFolder` when it or its nearest existing parent is not a folder."""
    path = Path(path).resolve()  # as RunDir takes it
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise NotARunFolder(path, candidate)
            break
    return path


class RunHeld(ValueError):
    """``train`` into a folder that already holds a run, without ``--resume`` or ``--overwrite``."""

    def __init__(self, path: Path, files: list[str]):
        self.path, self.files = Path(path), files
        super().__init__(f"run directory {self.path} already holds a run ({', '.join(files)}); one folder keeps "
                         "one run: use --resume to continue it, --overwrite to delete it and start again, or "
                         "choose another --run-dir")


# what a run writes; what marks a folder as holding one leaves out status.json, log.txt and
# request.yaml, which the dashboard writes into a fresh folder before its worker starts
RUN_MARKERS = ("config.yaml", "history.json", "metrics.json", "predictions.nc", "checkpoints", "models", "baselines")
RUN_FILES = ("status.json",) + RUN_MARKERS
TRASH_PREFIX = ".overwritten-"


class RunFileDamaged(ValueError):
    """A run file that exists but cannot be used; names the file and the reason."""

    def __init__(self, file: Path, reason: str):
        self.file, self.reason = Path(file), reason
        super().__init__(f"{self.file} is damaged: {reason}")


def _read_text(path: Path) -> str:
    """The UTF-8 text of a run file; :class:`RunFileDamaged` when it is a folder, not text or unreadable."""
    try:
        return path.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise RunFileDamaged(path, "it is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise RunFileDamaged(path, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise RunFileDamaged(path, f"cannot be read ({exc.strerror or exc})") from None


# config.yaml is written by the project (core.atomic_io, no aliases, a few KB, about six levels): a
# file far from that was edited or planted, and reading it must not cost memory or a traceback
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_DEPTH = 32


def _check_plain_yaml(path: Path, text: str) -> None:
    """Refuse a config.yaml larger, deeper or with aliases, as the project never writes one, before it is
    built (an alias bomb would expand to gigabytes; thousands of open brackets exhaust the recursion)."""
    if len(text) > MAX_CONFIG_BYTES:
        raise RunFileDamaged(path, f"{len(text):,} bytes, more than a run's config ({MAX_CONFIG_BYTES:,} at most)")
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.AliasEvent):
            raise RunFileDamaged(path, f"line {line}: YAML alias *{event.anchor}, which no run's config holds")
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                raise RunFileDamaged(path, f"line {line}: nested more than {MAX_CONFIG_DEPTH} levels deep")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def _load_json(path: Path, expected: type, default: Any) -> Any:
    """Parsed JSON of ``path`` (``default`` when absent); :class:`RunFileDamaged` when it is not a whole
    JSON ``expected`` (a truncated file, binary garbage, a folder, a number where a mapping belongs)."""
    if not path.exists():
        return default
    try:
        value = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise RunFileDamaged(path, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(value, expected):
        raise RunFileDamaged(path, f"holds a JSON {type(value).__name__}, expected a {'list' if expected is list else 'mapping'}")
    return value


def _check_status(path: Path, status: dict) -> dict:
    state = status.get("state")
    if state is not None and state not in STATES:
        raise RunFileDamaged(path, f"unknown state {state!r}")
    progress = status.get("progress")
    if progress is not None:
        try:
            number = float(progress)
        except (TypeError, ValueError):
            raise RunFileDamaged(path, f"progress {progress!r} is not a number") from None
        if not -1e-6 <= number <= 1.0 + 1e-6:  # NaN fails this too; rounding may overshoot a hair
            raise RunFileDamaged(path, f"progress {progress!r} is outside 0..1")
        status = {**status, "progress": min(max(number, 0.0), 1.0)}
    for key in ("message", "started", "updated", "finished"):
        if status.get(key) is not None and not isinstance(status[key], str):
            raise RunFileDamaged(path, f"{key} {status[key]!r} is not text")
    return status


def default_runs_root() -> Path:
    """Folder that holds all runs: ``$HYDROCAST_RUNS`` or ``./runs``."""
    return Path(os.environ.get("HYDROCAST_RUNS", "runs")).resolve()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class RunDir:
    """One run's directory and its files."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).resolve()

    # --- paths -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def history_path(self) -> Path:
        return self.path / "history.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.nc"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    # --- several models in one run ---------------------------------------------------------------
    MODELS_DIR = "models"
    LEGACY_MODELS_DIR = "baselines"

    def model_dir(self, name: str) -> "RunDir":
        """The folder of the run's model ``name``: ``models/<name>/``, or the legacy
        ``baselines/<name>/`` when only that exists (runs written before ``models/``).

        ``name`` must be a plain folder name, so the result always lies inside the run.
        """
        if safe_file_name(name, "model name") != name:
            raise ValueError(f"model name {name!r} is not a plain folder name")
        current = self.path / self.MODELS_DIR / name
        legacy = self.path / self.LEGACY_MODELS_DIR / name
        return RunDir(legacy if not current.exists() and legacy.is_dir() else current)

    def model_names(self) -> list[str]:
        """Names of the further models stored in the run (``models/`` and legacy ``baselines/``
        folders), sorted; the run's own model is not among them."""
        names: set[str] = set()
        for folder in (self.MODELS_DIR, self.LEGACY_MODELS_DIR):
            root = self.path / folder
            if root.is_dir():
                names.update(p.name for p in root.iterdir() if p.is_dir())
        return sorted(names)

    def read_all_history(self) -> list[dict]:
        """The epoch records of the run and of every model folder in it; a model folder's records carry
        its name under ``model`` (rain records also name it under ``experiment``)."""
        records = self.read_history()
        for name in self.model_names():
            records += [{"model": name, **r} for r in self.model_dir(name).read_history()]
        return records

    # --- one run per folder ------------------------------------------------------------------
    def run_files(self) -> list[str]:
        """The files and folders of a run present in this folder (empty folders do not count): [] for a
        new folder or one the dashboard just created."""
        found = []
        for name in RUN_MARKERS:
            path = self.path / name
            if path.is_dir() and not path.is_symlink():
                try:
                    if not any(path.iterdir()):
                        continue
                except OSError:
                    pass
            elif not os.path.lexists(path):
                continue
            found.append(name)
        return found

    def check_new_run(self, resume: bool, overwrite: bool) -> None:
        """Refuse (:class:`RunHeld`) to train a new run into a folder holding one, unless resuming or overwriting."""
        if not (resume or overwrite):
            files = self.run_files()
            if files:
                raise RunHeld(self.path, files)

    def remove_run(self) -> list[str]:
        """Delete this folder's run files (``RUN_FILES``; the lock, log and anything else stay); returns their names.

        Each is first renamed into one hidden trash folder (a rename is atomic), then the trash is
        deleted: a crash part way leaves a folder with only old files, which still counts as holding
        a run, never old and new files mixed. Trash left by such a crash is deleted here too.
        """
        trash = self.path / f"{TRASH_PREFIX}{os.getpid()}-{_dt.datetime.now().strftime('%Y%m%d%H%M%S%f')}"
        moved = []
        for name in RUN_FILES:
            if os.path.lexists(self.path / name):
                trash.mkdir(exist_ok=True)
                os.rename(self.path / name, trash / name)
                moved.append(name)
        for old in self.path.glob(f"{TRASH_PREFIX}*"):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
        return moved

    # --- config ----------------------------------------------------------------------------
    def create(self) -> "RunDir":
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir.mkdir(exist_ok=True)
        return self

    def write_config(self, config: dict) -> None:
        atomic_write_yaml(self.config_path, config)

    def read_config(self) -> dict:
        """The run's configuration ({} when there is none yet).

        Raises :class:`RunFileDamaged` (naming the file) when config.yaml is not a YAML mapping:
        resuming or evaluating from a guessed configuration would train or score another model.
        Pages use :meth:`safe_config`.
        """
        path = self.config_path
        if not path.exists():
            return {}
        text = _read_text(path)
        try:
            _check_plain_yaml(path, text)
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1} column {where.column + 1}" if where is not None else ""
            raise RunFileDamaged(path, f"not valid YAML{at} ({getattr(exc, 'problem', None) or exc})") from None
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise RunFileDamaged(path, f"holds a YAML {type(value).__name__}, expected a mapping of settings")
        return value

    def safe_config(self) -> dict:
        """:meth:`read_config`, or {} when config.yaml is damaged (see :meth:`damage`)."""
        try:
            return self.read_config()
        except RunFileDamaged:
            return {}

    @property
    def kind(self) -> str:
        """``hydro`` or ``rain`` (from config.yaml's ``kind``, else the directory name's prefix), or
        ``unknown``."""
        return run_kind(self)

    # --- status ----------------------------------------------------------------------------
    def read_status(self) -> dict:
        """status.json as a dict ({} before the first write).

        A damaged file reads as ``{"state": "damaged", "message": <file and reason>, "damaged_file":
        <path>}`` instead of raising.
        """
        try:
            return _check_status(self.status_path, _load_json(self.status_path, dict, {}))
        except RunFileDamaged as exc:
            return {"state": DAMAGED, "progress": 0.0, "message": str(exc), "damaged_file": str(exc.file)}

    def _stored_status(self) -> dict:
        """What update_status merges into: the stored fields, or nothing when the file is damaged."""
        try:
            return dict(_load_json(self.status_path, dict, {}))
        except RunFileDamaged:
            return {}

    def update_status(self, **fields: Any) -> dict:
        """Merge ``fields`` into status.json (``state`` must be one of ``STATES``) and stamp ``updated``."""
        state = fields.get("state")
        if state is not None and state not in STATES:
            raise ValueError(f"unknown run state {state!r}; expected one of {STATES}")
        status = self._stored_status()
        status.update(fields)
        status["updated"] = now_iso()
        if state == "running" and "started" not in status:
            status["started"] = status["updated"]
        if state in FINAL_STATES:
            status.setdefault("finished", status["updated"])
        atomic_write_json(self.status_path, status)
        return status

    # --- history and metrics ---------------------------------------------------------------
    def read_history(self) -> list[dict]:
        """The epoch records ([] when the file is missing or damaged; non-mapping records are skipped)."""
        try:
            history = _load_json(self.history_path, list, [])
        except RunFileDamaged:
            return []
        return [r for r in history if isinstance(r, dict)]

    def append_history(self, record: dict) -> None:
        history = self.read_history()
        history.append(record)
        atomic_write_json(self.history_path, history)

    def write_history(self, records: Iterable[dict]) -> None:
        atomic_write_json(self.history_path, list(records))

    def write_metrics(self, metrics: dict) -> None:
        atomic_write_json(self.metrics_path, metrics)

    def read_metrics(self) -> dict:
        """metrics.json ({} when missing or damaged: see :meth:`damage`)."""
        try:
            return _load_json(self.metrics_path, dict, {})
        except RunFileDamaged:
            return {}

    def damage(self) -> list[RunFileDamaged]:
        """Every damaged file of the run (config, status, history, metrics); [] for a healthy run.

        predictions.nc is checked where it is opened (:func:`core.runs.results.open_predictions`).
        """
        found: list[RunFileDamaged] = []
        try:
            self.read_config()
        except RunFileDamaged as exc:
            found.append(exc)
        for path, expected in ((self.status_path, dict), (self.history_path, list), (self.metrics_path, dict)):
            try:
                value = _load_json(path, expected, None)
                if path == self.status_path and value is not None:
                    _check_status(path, value)
            except RunFileDamaged as exc:
                found.append(exc)
        return found

    def tail_log(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:  # absent, or not a file
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def config_text(self) -> str:
        """config.yaml as text for display ("" when absent; undecodable bytes replaced)."""
        try:
            return self.config_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def duration_seconds(self) -> float | None:
        status = self.read_status()
        try:
            start = _dt.datetime.fromisoformat(status["started"])
            end = _dt.datetime.fromisoformat(status.get("finished") or status["updated"])
            return (end - start).total_seconds()
        except (KeyError, TypeError, ValueError):  # absent, damaged, or naive and aware mixed
            return None


def run_kind(run: RunDir) -> str:
    """The kind of a run: config.yaml's ``kind`` when it is a known kind, else the prefix of the
    directory name (``hydro-20250101-...``), else ``"unknown"`` (never raises)."""
    kind = run.safe_config().get("kind")
    if kind in KINDS:
        return kind
    prefix = run.name.split("-")[0]
    return prefix if prefix in KINDS else "unknown"


def new_run_dir(kind: str, name: str | None = None, root: str | os.PathLike | None = None) -> RunDir:
    """Create a fresh run directory ``<root>/<kind>-<UTC timestamp>[-name]`` (never reuses one).

    ``kind`` and ``name`` may come from a user: they are reduced to safe file-name characters, so
    the directory is always a direct child of ``root`` (:func:`core.runs.safe_names.safe_file_name`).
    """
    root = (Path(root) if root is not None else default_runs_root()).resolve()
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    kind = safe_file_name(kind, "run kind")
    base = f"{kind}-{stamp}" + (f"-{safe_file_name(name, 'run name')}" if name else "")
    root.mkdir(parents=True, exist_ok=True)
    path, i = root / base, 0
    while True:  # mkdir without exist_ok: two starts in the same second never share a directory
        try:
            path.mkdir()
            break
        except FileExistsError:
            i += 1
            path = root / f"{base}-{i}"
    return RunDir(path).create()
