"""The landing store and the archive store: where landed feeds, and ERP deliveries as delivered, are kept.

Each is a folder given by a URL, so that any worker can load what another extracted:

    SALESDW_LANDING_URL   default: the local landing folder (paths.LANDING_DIR), as it has always been
    SALESDW_ARCHIVE_URL   default: the local archive folder (paths.ARCHIVE_DIR)

A `file://` URL (or a plain path) is a local folder, handled with pathlib exactly as before. Any other
URL is an Airflow ObjectStoragePath (universal-pathlib over fsspec): `s3://<conn_id>@<bucket>/<prefix>`,
`gs://<conn_id>@<bucket>/<prefix>` (the Amazon or Google provider package registers the filesystem and
reads the connection's credentials), or `memory://<prefix>` (fsspec's own in-process filesystem, for
tests). A location is therefore a pathlib.Path or an ObjectStoragePath; both have `/`, `with_name`,
`is_file`, `name` and `parent`, and `str()` of one is what results, audit rows and messages carry
(a path for a local store, as before; the URL otherwise), which `location` turns back into one.

Files are written locally first (the extractors stream and deduplicate into a working copy), then
published: locally an atomic rename, as before; to an object store an upload to a temporary key
beside the target, its size checked, then moved onto the target, so an object appears whole or not
at all. The loader reads a local file in place, and a remote object from a temporary local copy
(downloaded by streaming, never read whole into memory: the loader seeks and reads a file twice).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Union
from urllib.parse import urlsplit
from urllib.request import url2pathname

from salesdw import paths

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

LANDING_URL = "SALESDW_LANDING_URL"
ARCHIVE_URL = "SALESDW_ARCHIVE_URL"
LOCAL_SCHEMES = ("file", "local")
# the provider package that registers each scheme's filesystem with Airflow (docs/scaling.md)
AMAZON, GOOGLE, AZURE = (
    "apache-airflow-providers-amazon[s3fs]",
    "apache-airflow-providers-google",
    "apache-airflow-providers-microsoft-azure",
)
PROVIDERS = {"s3": AMAZON, "s3a": AMAZON, "s3n": AMAZON, "gs": GOOGLE, "gcs": GOOGLE, "abfs": AZURE, "abfss": AZURE}

Location = Union[Path, "ObjectStoragePath"]


class StoreError(RuntimeError):
    """The landing or archive store is not usable, or a file could not be published to it."""


def landing(given: Path | str | None = None) -> Location:
    """The landing store's root: `given` (a test's folder, a URL), else SALESDW_LANDING_URL, else the local folder."""
    return _root(given, LANDING_URL, paths.LANDING_DIR)


def archive(given: Path | str | None = None) -> Location:
    """The archive store's root: `given`, else SALESDW_ARCHIVE_URL, else the local archive folder."""
    return _root(given, ARCHIVE_URL, paths.ARCHIVE_DIR)


def _root(given: Path | str | None, setting: str, default: Path) -> Location:
    if isinstance(given, Path):
        return given
    return location(given or os.environ.get(setting) or default, setting=setting)


def location(text: str | Path, *, setting: str | None = None) -> Location:
    """A location from its string (a result's `path`, an audit row's `archived_to`, a setting)."""
    if isinstance(text, Path):
        return text
    if "://" not in text:
        return Path(text)
    parts = urlsplit(text)
    if parts.scheme in LOCAL_SCHEMES:
        return Path(url2pathname(parts.path))
    from airflow.sdk import ObjectStoragePath

    store = ObjectStoragePath(text)
    _ensure_filesystem(store, setting)
    return store


def _ensure_filesystem(store: ObjectStoragePath, setting: str | None) -> None:
    """Airflow knows the scheme's filesystem (a provider registers it); else fsspec's own, when no
    connection is named (memory://); else one sentence naming the package to install."""
    from airflow.sdk.io import attach, has_fs

    if has_fs(store.protocol):
        return
    named = f"{setting}={store}" if setting else str(store)
    if store.conn_id is None:
        import fsspec

        try:
            attach(store.protocol, fs=fsspec.filesystem(store.protocol))
            return
        except (ImportError, ValueError):
            pass
    package = PROVIDERS.get(store.protocol)
    how = f"; install {package} and name its connection: {store.protocol}://<conn_id>@<bucket>/<prefix>"
    raise StoreError(f"{named}: Airflow has no filesystem for {store.protocol}://" + (how if package else ""))


def is_local(where: Location) -> bool:
    return isinstance(where, Path)


def working_copy(target: Location) -> Path:
    """Where the file bound for `target` is written first: `<target>.part` beside it in a local store
    (its folder made), else a fresh local temporary folder's; `publish` or `discard` it afterwards."""
    if is_local(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.with_name(target.name + ".part")
    return Path(tempfile.mkdtemp(prefix="salesdw-landing-")) / (target.name + ".part")


def publish(work: Path, target: Location, *, keep: bool = False) -> None:
    """`work` (a local file) becomes `target`, whole or not at all; `keep` leaves `work` where it is."""
    if is_local(target):
        if keep:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work, target)
        else:
            os.replace(work, target)
        return
    fs, size = target.fs, work.stat().st_size
    staging = target.with_name(f"{target.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        fs.put_file(str(work), staging.path)
        sent = fs.size(staging.path)
        if sent != size:
            raise StoreError(f"{target}: {sent} of {size} bytes arrived at {staging}; not published")
        fs.mv(staging.path, target.path)
    except BaseException as exc:  # whatever stopped it (an interrupt too), no temporary key stays
        _remove_quietly(staging)
        if isinstance(exc, StoreError) or not isinstance(exc, Exception):
            raise
        raise StoreError(f"{target}: could not publish {work.name} there: {type(exc).__name__}: {exc}") from exc
    if not keep:
        discard(work, target)


def discard(work: Path, target: Location) -> None:
    """Drop the working copy of `target` (and, for a remote store, the temporary folder it was in)."""
    if is_local(target):
        work.unlink(missing_ok=True)
    else:
        shutil.rmtree(work.parent, ignore_errors=True)


@contextmanager
def kept(src: Path, target: Location, *, move: bool) -> Iterator[Path]:
    """`src` (a local file) kept at `target`, moved there or copied; yields a local path to read it from.

    Locally it is moved (or copied) as before and read from `target`. To an object store it is
    uploaded first and read where it is; a move then deletes `src` once the block has ended without
    an error (after one, `src` stays where it was delivered, and its archived copy is kept too).
    """
    if is_local(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            shutil.move(src, target)
        else:
            shutil.copy2(src, target)
        yield target
        return
    publish(src, target, keep=True)
    yield src
    if move:
        src.unlink(missing_ok=True)


@contextmanager
def local_copy(where: Location) -> Iterator[Path]:
    """A local file with `where`'s bytes for the block: itself in a local store, else a download (streamed)."""
    if is_local(where):
        yield where
        return
    folder = Path(tempfile.mkdtemp(prefix="salesdw-load-"))
    try:
        copy = folder / where.name
        try:
            where.fs.get_file(where.path, str(copy))
        except FileNotFoundError:
            raise FileNotFoundError(f"{where}: no such object in the landing store") from None
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def rename(src: Location, dst: Location) -> None:
    """`src` becomes `dst` in the same store (an object store copies, then deletes)."""
    if is_local(src):
        src.replace(dst)
    else:
        src.fs.mv(src.path, dst.path)


def remove(where: Location) -> None:
    """Delete `where` if it is there."""
    if is_local(where):
        where.unlink(missing_ok=True)
    elif where.fs.exists(where.path):
        where.fs.rm_file(where.path)


def _remove_quietly(where: ObjectStoragePath) -> None:
    """A temporary key gone, if the store lets us: the failure being reported matters more."""
    with suppress(Exception):
        remove(where)
