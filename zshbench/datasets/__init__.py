"""Finding a data set by name or file, finding its files on disk, and loading it.

A data set is described by a :class:`~zshbench.registry.DatasetSpec` (a ``datasets_registry``
TOML entry, or a user's own ``.toml`` file) and read by a *layout loader*
(``zshbench.datasets.layouts.*``) that turns the published on-disk layout into an
:class:`~zshbench.datasets.base.ImageSet`. Nothing is cached on disk: the real files stay the
single source of truth.

The small text/matrix readers at the bottom are shared by the layout loaders (and usable by a
user's own loader) so that every malformed file is reported the same way: one line naming the
file, the layout and where to get the data.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError, ZshbenchError
from ..registry import DatasetSpec, first_line
from .base import ArrayImageSource, FileImageSource, ImageSet, ImageSource, Protocol

DATA_ROOT_ENV = "ZSHBENCH_DATA_ROOT"

__all__ = [
    "DATA_ROOT_ENV",
    "ArrayImageSource",
    "FileImageSource",
    "ImageSet",
    "ImageSource",
    "Protocol",
    "bool_option",
    "dataset_error",
    "dataset_loader",
    "inside_folder",
    "load_dataset",
    "read_id_table",
    "read_lines",
    "read_matrix",
    "read_name_list",
    "resolve_dataset",
    "resolve_root",
]


# --------------------------------------------------------------------------------------------
# Resolving and loading


def resolve_dataset(name_or_path: str | os.PathLike[str] | DatasetSpec) -> DatasetSpec:
    """A registered data set by name, or a user's own ``.toml`` data-set file by path.

    A path lets a researcher benchmark on their own data without writing a plugin: the file has
    the fields of a registry entry and may point ``loader`` at a known layout (``"cub"``).
    """
    if isinstance(name_or_path, DatasetSpec):
        return name_or_path
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if text.endswith(".toml") or (("/" in text or os.sep in text) and path.is_file()):
        from .spec_file import spec_from_toml

        if not path.is_file():
            raise DatasetError(
                f"data-set file {path} does not exist",
                "Pass a registered data-set name (see 'zshbench list') or the path of a .toml "
                "data-set file.",
            )
        spec = spec_from_toml(path)
        dataset_loader(spec)  # an unknown loader name fails now, before any data is read
        return spec

    from ..plugin_manager import load_plugins

    registry = load_plugins().datasets
    if text not in registry:
        from ..suggest import did_you_mean

        known = ", ".join(registry.names()) or "none"
        raise DatasetError(
            f"unknown data set {text!r}",
            f"{did_you_mean(text, registry.names())}Known: {known}; or pass the path of your "
            "own .toml data-set file.",
        )
    return registry.get(text)


def _describe_source(spec: DatasetSpec, root: Path | None = None) -> str:
    parts = []
    if spec.layout:
        parts.append(f"Expected layout: {_one_line(spec.layout)}.")
    if spec.obtain:
        parts.append(f"Where to get it: {_one_line(spec.obtain)}.")
    parts.append(download_hint(spec, root))
    return " ".join(part for part in parts if part)


def download_hint(spec: DatasetSpec, root: str | os.PathLike[str] | None = None) -> str:
    """``"Or download it: zshbench download cub --root ..."`` for a data set that has a
    ``[download]`` table (``root``: where it was looked for), else ``""``."""
    if getattr(spec, "download", None) is None:
        return ""
    return f"Or download it: {download_command(spec, root)} (or add --download to 'run')."


def download_command(spec: DatasetSpec, root: str | os.PathLike[str] | None = None) -> str:
    """``zshbench download NAME`` for a registered data set, or with the path of a user's own
    .toml file (whose name the registry does not know), plus ``--root`` when given."""
    import shlex

    name = spec.name
    try:
        from ..plugin_manager import load_plugins

        registry = load_plugins().datasets
        registered = name in registry and (
            getattr(registry.get(name), "source_file", "") == spec.source_file
        )
    except ZshbenchError:
        registered = False
    if not registered and spec.source_file:
        name = shlex.quote(spec.source_file)
    return command_with_root(f"zshbench download {name}", root)


def command_with_root(command: str, root: str | os.PathLike[str] | None) -> str:
    """``command`` with ``--root ROOT`` appended (shell-quoted) when a root is given."""
    import shlex

    if root is not None and str(root) != "":
        command += f" --root {shlex.quote(str(root))}"
    return command


DEFAULT_DATA_HOME = "~/.cache/zshbench/data"


def data_home() -> Path:
    """``$ZSHBENCH_DATA_ROOT``, or ``~/.cache/zshbench/data`` when it is not set."""
    return Path(os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_HOME).expanduser()


def _one_line(text: str) -> str:
    return " ".join(str(text).split()).rstrip(".")


def _existing(path: Path, spec: DatasetSpec, given_by: str) -> Path:
    if not path.exists():
        problem = "does not exist"
        if path.is_symlink():
            problem = "is a symbolic link to nothing (a link loop or a missing target)"
        raise DatasetError(
            f"data root {path} for data set {spec.name!r} (given by {given_by}) {problem}",
            _describe_source(spec, path) or None,
        )
    return path


def resolve_root(spec: DatasetSpec, data_root: str | os.PathLike[str] | None = None) -> Path | None:
    """Where the data set's files are, so the user can keep real data anywhere.

    Precedence: an explicit ``data_root`` (``--data-root``), then the spec's ``root_env``
    environment variable, then ``$ZSHBENCH_DATA_ROOT/<name>`` if that folder exists, then the
    spec's ``default_root``, then ``~/.cache/zshbench/data/<name>`` (where ``zshbench download``
    puts it by default) if that folder exists. Embedded data sets need no root: always ``None``
    (so a ``--data-root`` meant for another data set in the same script does no harm).
    """
    if spec.embedded:
        return None
    if data_root is not None and str(data_root) != "":
        return _existing(Path(data_root).expanduser(), spec, "--data-root")
    if spec.root_env and os.environ.get(spec.root_env):
        return _existing(Path(os.environ[spec.root_env]).expanduser(), spec, f"${spec.root_env}")
    shared_root = os.environ.get(DATA_ROOT_ENV)
    if shared_root:
        if Path(shared_root).expanduser().exists() and not Path(shared_root).expanduser().is_dir():
            raise DatasetError(
                f"${DATA_ROOT_ENV} is {shared_root}, which is not a folder",
                f"Point it at the folder that holds one folder per data set (e.g. {spec.name}/).",
            )
        candidate = Path(shared_root).expanduser() / spec.name
        if candidate.exists():
            return candidate
    if spec.default_root:
        return _existing(Path(spec.default_root).expanduser(), spec, "the spec's default_root")
    if not shared_root:
        downloaded = data_home() / spec.name
        if downloaded.exists():
            return downloaded
    where = f"set ${spec.root_env} or " if spec.root_env else ""
    raise DatasetError(
        f"no data root for data set {spec.name!r}",
        f"Pass --data-root PATH, {where}put it at ${DATA_ROOT_ENV}/{spec.name}. "
        + _describe_source(spec),
    )


def dataset_loader(spec: DatasetSpec) -> Any:
    """The layout loader function ``spec`` names, from the registered loaders.

    Only loaders registered through the plugin API (``zshbench_register_loaders``) can be
    named, so a data-set file can never make zshbench import or call anything else.
    """
    from ..plugin_manager import load_plugins

    loaders = load_plugins().loaders
    if not isinstance(spec.loader, str) or spec.loader not in loaders:
        raise DatasetError(
            f"data set {spec.name!r} names the loader {spec.loader!r}, which is not registered",
            f"Registered loaders: {', '.join(loaders.names()) or 'none'} "
            "(see 'zshbench list loaders').",
        )
    try:
        loader = loaders.load(spec.loader)
    except ZshbenchError as error:
        raise DatasetError(f"data set {spec.name!r}: {error.message}", error.hint) from None
    if not callable(loader):
        raise DatasetError(f"data set {spec.name!r}: loader {spec.loader!r} is not callable")
    return loader


def _check_options(spec: DatasetSpec, loader: Any, options: dict[str, Any]) -> None:
    try:
        parameters = inspect.signature(loader).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [
        name
        for name, p in parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name != "root"
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DatasetError(
            f"data set {spec.name!r}: unknown loader option(s) {', '.join(unknown)}",
            f"Its loader {spec.loader} accepts: {', '.join(accepted) or 'none'}.",
        )


def load_dataset(
    name_or_spec: str | os.PathLike[str] | DatasetSpec,
    data_root: str | os.PathLike[str] | None = None,
    **loader_overrides: Any,
) -> ImageSet:
    """Load a data set into an :class:`ImageSet` (the only form the protocol and methods see).

    ``loader_overrides`` replace the spec's ``loader_options`` (e.g. ``verify_images=False``
    for a metadata-only copy). The loaded class count is checked against the spec, which
    catches a root that points at the wrong data set.
    """
    spec = resolve_dataset(name_or_spec)
    root = resolve_root(spec, data_root)
    options = {**spec.loader_options, **loader_overrides}
    loader = dataset_loader(spec)
    _check_options(spec, loader, options)
    try:
        image_set = loader(root, **options)
    except DatasetError as error:
        hint = download_hint(spec, root)
        if hint and hint not in (error.hint or ""):
            error.hint = f"{error.hint.rstrip('.')}. {hint}" if error.hint else hint
        raise
    except ZshbenchError:
        raise
    except (Exception, SystemExit) as error:  # noqa: BLE001 - a plugin's loader may fail any way
        raise DatasetError(
            f"data set {spec.name!r}: its loader {spec.loader!r} failed on {root} "
            f"({first_line(error)})",
            _describe_source(spec, root) or None,
        ) from error
    if not isinstance(image_set, ImageSet):
        raise DatasetError(
            f"data set {spec.name!r}: loader {spec.loader!r} returned "
            f"{type(image_set).__name__}, not an ImageSet"
        )
    if spec.num_classes and image_set.num_classes != spec.num_classes:
        raise DatasetError(
            f"data set {spec.name!r} should have {spec.num_classes} classes, but {root} has "
            f"{image_set.num_classes}",
            "Is the data root pointing at the right data set? " + _describe_source(spec),
        )
    image_set.name = spec.name
    image_set.paper_family = spec.paper_family
    return image_set


# --------------------------------------------------------------------------------------------
# Readers shared by the layout loaders


def dataset_error(layout: str, problem: str, obtain: str, advice: str = "") -> DatasetError:
    """The one-line error every loader raises: the layout, what is wrong, where to get it."""
    hint = f"{advice.rstrip('.')}. " if advice else ""
    return DatasetError(f"{layout} layout: {_one_line(problem)}", f"{hint}Get it from {obtain}.")


def find_layout_folder(
    root: str | os.PathLike[str] | None, folder: str, marker: str, layout: str, obtain: str
) -> Path:
    """The data set's top folder (``folder``, holding ``marker``): ``root`` itself or inside it.

    Users point ``--data-root`` at either level, so both are tried; the error names the file
    that was expected.
    """
    if root is None:
        raise dataset_error(
            layout, "no data root given", obtain, f"Pass the folder that contains {folder}/"
        )
    root = Path(root).expanduser()
    for candidate in (root / folder, root):
        if (candidate / marker).is_file():
            return candidate
    raise dataset_error(
        layout,
        f"expected {root / folder / marker} (or {root / marker}), which does not exist",
        obtain,
        f"Pass --data-root pointing at {folder}/ or the folder that contains it",
    )


def check_images_exist(paths: list[Path], listed_in: str, layout: str, obtain: str) -> None:
    """Every listed image file is there, or one error naming the first missing one.

    Loaders skip this for metadata-only copies (``verify_images=false``).
    """
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise dataset_error(
            layout,
            f"{len(missing)} of the {len(paths)} images listed in {listed_in} are missing, "
            f"e.g. expected the file {missing[0]}",
            obtain,
            "For a metadata-only copy pass the loader option verify_images=false",
        )


def inside_folder(relative: str) -> bool:
    """True for a relative path that stays inside its folder (no '..', not absolute).

    Image lists are data: an entry like ``../../../etc/passwd`` must not make a loader read a
    file outside the data set.
    """
    parts = relative.replace("\\", "/").split("/")
    absolute = relative.startswith(("/", "\\")) or ":" in parts[0]
    return bool(relative) and not absolute and ".." not in parts


def bool_option(value: Any, option: str, layout: str, obtain: str) -> bool:
    """A loader's on/off option, also when it arrives as text (``"false"`` must not be true)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise dataset_error(layout, f"option {option}={value!r} is not true or false", obtain)


def read_lines(path: Path, layout: str, obtain: str) -> list[tuple[int, str]]:
    """Non-empty, stripped lines with their 1-based line numbers; CRLF, CR and LF alike.

    Real copies of CUB come with CRLF line endings from some sources and LF from others.
    """
    path = Path(path)
    if not path.is_file():
        raise dataset_error(layout, f"expected the file {path}, which does not exist", obtain)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise dataset_error(
            layout,
            f"{path} is not a UTF-8 text file ({error.reason} at byte {error.start})",
            obtain,
        ) from None
    except OSError as error:
        raise dataset_error(layout, f"cannot read {path} ({error.strerror})", obtain) from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def read_id_table(
    path: Path, layout: str, obtain: str, value: str = "name"
) -> list[tuple[int, str]]:
    """``<integer id> <value>`` lines (``classes.txt``, ``images.txt``, ``predicates.txt``)."""
    rows = []
    for number, line in read_lines(path, layout, obtain):
        parts = line.split(None, 1)
        if len(parts) != 2 or not _is_int(parts[0]):
            raise dataset_error(
                layout,
                f"{path} line {number}: expected '<integer id> <{value}>', got {line[:80]!r}",
                obtain,
            )
        rows.append((int(parts[0]), parts[1].strip()))
    if not rows:
        raise dataset_error(layout, f"{path} is empty", obtain)
    ids = [i for i, _ in rows]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise dataset_error(layout, f"{path}: id {duplicate} appears more than once", obtain)
    return rows


def read_name_list(path: Path, layout: str, obtain: str) -> list[str]:
    """One name per line (AWA2's ``trainclasses.txt`` / ``testclasses.txt``)."""
    lines = read_lines(path, layout, obtain)
    if not lines:
        raise dataset_error(layout, f"{path} is empty", obtain)
    for number, line in lines:
        if len(line.split()) != 1:
            raise dataset_error(
                layout, f"{path} line {number}: expected one name, got {line[:80]!r}", obtain
            )
    return [line for _, line in lines]


def read_matrix(
    path: Path, layout: str, obtain: str, rows: int | None = None, columns: int | None = None
) -> np.ndarray:
    """A whitespace-separated numeric matrix, checked against the expected shape.

    ``rows``/``columns`` say what the rest of the layout implies (classes × attributes); a
    mismatch is the most common sign of a mixed-up or truncated copy.
    """
    values = []
    for number, line in read_lines(path, layout, obtain):
        try:
            row = [float(x) for x in line.split()]
        except ValueError:
            raise dataset_error(
                layout, f"{path} line {number}: not a row of numbers: {line[:60]!r}", obtain
            ) from None
        width = columns if columns is not None else (len(values[0]) if values else len(row))
        if len(row) != width:
            raise dataset_error(
                layout,
                f"{path} line {number}: {len(row)} columns, expected {width}",
                obtain,
            )
        values.append(row)
    if rows is not None and len(values) != rows:
        raise dataset_error(
            layout, f"{path} has {len(values)} rows, expected {rows} (one per class)", obtain
        )
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.size and not np.isfinite(matrix).all():
        raise dataset_error(layout, f"{path} contains non-finite values", obtain)
    return matrix


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
