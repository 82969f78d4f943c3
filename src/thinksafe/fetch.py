"""Getting benchmark files ahead of a run: which files a benchmark needs, where each one is, and
a verified download (`thinksafe data fetch`, `thinksafe data status`, the eval command's check).

A download goes to a temporary file in the target folder, is hashed as it streams, and is
renamed to its real name only when its sha256 matches the pin; a mismatch deletes it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from thinksafe.data import DataError, DataFile, DataResolver, cache_dir, one_line, sha256_of

State = Literal["present", "missing", "bad-sha256"]
MIRROR_URL_ENV = "THINKSAFE_DATA_URL"  # a web mirror laid out as <benchmark>/<file>, used instead of the pinned URLs
CHUNK = 1 << 16


# ---------------------------------------------------------------- what a benchmark needs


@dataclass(frozen=True)
class Need:
    """One file a benchmark cannot run without: any one of `choices` satisfies it (first choice preferred)."""

    choices: tuple[DataFile, ...]


def needs_of(benchmark: object) -> list[Need]:
    """The files `benchmark` (an instance, options applied) reads: what its `required_files()` returns
    (DataFiles, or tuples of alternatives, for needs that depend on options or accept one of two
    files), else every file it declares."""
    own = getattr(benchmark, "required_files", None)
    if callable(own):
        return [Need(item if isinstance(item, tuple) else (item,)) for item in own()]
    return [Need((file,)) for file in getattr(type(benchmark), "files", ())]


def benchmarks_named(names: Sequence[str] = (), options: dict[str, str] | None = None) -> list[object]:
    """Benchmark instances for benchmark or suite `names` (a suite gives its members; none: every benchmark)."""
    from thinksafe.benchmarks.base import benchmark_names, get_benchmark, member_options, suite_names

    benchmarks, suites = benchmark_names(), suite_names()
    wanted: list[str] = []
    for name in names or list(benchmarks):
        if name in suites:
            wanted += suites[name].members
        elif name in benchmarks:
            wanted.append(name)
        else:
            raise DataError(f"unknown benchmark or suite {name!r}; benchmarks: {', '.join(benchmarks)}; "
                            f"suites: {', '.join(suites) or 'none'}")
    given = options or {}
    return [get_benchmark(n, **member_options(n, given)) for n in dict.fromkeys(wanted)]


def declared_files(benchmarks: Iterable[object]) -> list[DataFile]:
    """Every file the benchmarks declare (all splits, all alternatives), once each, in order."""
    files: dict[tuple[str, str], DataFile] = {}
    for bench in benchmarks:
        for file in getattr(type(bench), "files", ()):
            files.setdefault((file.benchmark, file.name), file)
    return list(files.values())


# ---------------------------------------------------------------- where a file is


@dataclass(frozen=True)
class Located:
    file: DataFile
    state: State
    path: Path  # where it was found, or where it is expected


def locate(file: DataFile, resolver: DataResolver, *, check_hash: bool = True) -> Located:
    """Where the resolver would read `file` (the mirror first, then the cache), and whether it is usable."""
    places = [file.mirror_path(resolver.data_dir)] if resolver.data_dir is not None else []
    places.append(cache_dir() / file.benchmark / file.name)
    for path in places:
        if path.exists():
            good = not (check_hash and file.sha256) or sha256_of(path) == file.sha256
            return Located(file, "present" if good else "bad-sha256", path)
    return Located(file, "missing", places[0])


def missing_files(benchmarks: Iterable[object], resolver: DataResolver) -> list[DataFile]:
    """Files the benchmarks need that are neither in the mirror nor in the cache (or fail their sha256);
    for a need with alternatives, its first downloadable choice."""
    out: dict[tuple[str, str], DataFile] = {}
    for bench in benchmarks:
        for need in needs_of(bench):
            if any(locate(choice, resolver).state == "present" for choice in need.choices):
                continue
            pick = next((c for c in need.choices if downloadable(c)), need.choices[0])
            out.setdefault((pick.benchmark, pick.name), pick)
    return list(out.values())


def check_data_present(benchmark_or_suite_name: str, data_dir: Path | str | None = None,
                       options: dict[str, str] | None = None, *, offline: bool | None = None,
                       timeout: float = 10.0) -> None:
    """Raise one DataError naming every file the benchmark (or each suite member) needs and cannot get:
    its expected path and URL on a line of its own, then the command that fetches them. Offline, that is
    every file absent from the mirror and the cache; online, the absent ones are downloaded into the cache
    now and only those that fail are named. Returns when nothing is missing."""
    resolver = DataResolver(data_dir, offline=offline)
    missing = missing_files(benchmarks_named([benchmark_or_suite_name], options), resolver)
    if missing and not resolver.offline:
        results = [fetch_file(file, cache_dir(), timeout=timeout) for file in missing]
        failed = {(r.file.benchmark, r.file.name): r.detail for r in results if r.outcome in ("failed", "manual")}
        missing = [f for f in missing if (f.benchmark, f.name) in failed]
        if missing:
            raise DataError(missing_message(missing, resolver, benchmark_or_suite_name, "they could not be downloaded", failed))
    elif missing:
        raise DataError(missing_message(missing, resolver, benchmark_or_suite_name, "offline mode is on"))


def missing_message(missing: Sequence[DataFile], resolver: DataResolver, name: str, why: str,
                    details: dict[tuple[str, str], str] | None = None) -> str:
    """The all-at-once message: a header, one line per file (where it is expected, its URL), the fix."""
    lines = [f"{len(missing)} data file(s) needed by {name} are missing ({why}):"]
    for file in missing:
        found = locate(file, resolver)
        what = "wrong sha256 at" if found.state == "bad-sha256" else "expected at"
        detail = (details or {}).get((file.benchmark, file.name))
        lines.append(f"  {file.benchmark}/{file.name}: {what} {found.path}; URL {file.url}"
                     + (f" ({one_line(detail, 200)})" if detail else ""))
    where = f" --to {resolver.data_dir}" if resolver.data_dir is not None else ""
    lines.append(f"fetch them with: thinksafe data fetch --benchmark {name}{where}")
    return "\n".join(lines)


def fetch_needs(benchmark: object) -> list[Need]:
    """What `data fetch` gets for `benchmark`: its needs, plus each declared file no need covers
    (e.g. HarmBench's other splits), so any option of the benchmark then runs offline."""
    needs = needs_of(benchmark)
    covered = {(c.benchmark, c.name) for need in needs for c in need.choices}
    extra = [Need((f,)) for f in getattr(type(benchmark), "files", ()) if (f.benchmark, f.name) not in covered]
    return needs + extra


# ---------------------------------------------------------------- downloading


def downloadable(file: DataFile) -> bool:
    """The pinned URL serves this very file: an http(s) URL, not a description of a derived copy
    (words in the URL, or a URL whose file type differs from the file's: a converted artifact)."""
    url = file.url.strip()
    if not url.startswith(("http://", "https://")) or any(ch.isspace() for ch in url):
        return False
    return Path(urlparse(url).path).suffix.lower() == Path(file.name).suffix.lower()


def source_url(file: DataFile, mirror_url: str | None = None) -> str | None:
    """Where to download `file` from: `mirror_url/<benchmark>/<file>` when a web mirror is given,
    else its pinned URL when that serves the file itself, else None (place a copy by hand)."""
    if mirror_url:
        return f"{mirror_url.rstrip('/')}/{file.benchmark}/{file.name}"
    return file.url.strip() if downloadable(file) else None


Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


def download(url: str, target: Path, sha256: str | None, *, progress: Progress | None = None,
             timeout: float = 30.0) -> Path:
    """Stream `url` into a temporary file beside `target`, check its sha256, rename it to `target`.
    A failed request or a hash mismatch raises DataError and leaves nothing behind."""
    import httpx

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    partial = Path(temporary)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out:
            with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
                response.raise_for_status()
                size = response.headers.get("content-length")
                total = int(size) if size and size.isdigit() else None
                done = 0
                for chunk in response.iter_bytes(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        got = digest.hexdigest()
        if sha256 and got != sha256:
            raise DataError(f"{url} returned content with sha256 {got}, expected {sha256}; the file was refused (deleted)")
        partial.chmod(0o644)  # mkstemp makes it private; a data file is not
        partial.replace(target)
        return target
    except httpx.HTTPError as error:
        raise DataError(f"download of {url} failed: {one_line(error)}") from error
    finally:
        partial.unlink(missing_ok=True)


@dataclass(frozen=True)
class Fetched:
    file: DataFile
    outcome: Literal["fetched", "present", "failed", "manual"]
    path: Path
    detail: str = ""


def fetch_file(file: DataFile, to: Path, *, mirror_url: str | None = None, skip_in: DataResolver | None = None,
               progress: Progress | None = None, timeout: float = 30.0) -> Fetched:
    """`file` into `to/<benchmark>/<file>` unless it is already there (or where `skip_in` finds it) with
    its pinned sha256; the outcome, never an exception for a file that could not be got. A copy there
    with the wrong sha256 is deleted first."""
    target = to / file.benchmark / file.name
    if target.exists():
        if not file.sha256 or sha256_of(target) == file.sha256:
            return Fetched(file, "present", target)
        target.unlink()
    if skip_in is not None:
        found = locate(file, skip_in)
        if found.state == "present":
            return Fetched(file, "present", found.path)
    url = source_url(file, mirror_url)
    if url is None:
        return Fetched(file, "manual", target, f"not downloadable from {file.url}; place a copy at {target}")
    try:
        download(url, target, file.sha256, progress=progress, timeout=timeout)
    except DataError as error:
        return Fetched(file, "failed", target, str(error))
    return Fetched(file, "fetched", target, url)


def fetch_need(need: Need, to: Path, *, mirror_url: str | None = None, skip_in: DataResolver | None = None,
               progress: Progress | None = None, timeout: float = 30.0) -> Fetched:
    """The first choice of `need` already there, else the first that downloads; else the first failure."""
    def there(choice: DataFile) -> bool:
        target = to / choice.benchmark / choice.name
        if target.exists() and (not choice.sha256 or sha256_of(target) == choice.sha256):
            return True
        return skip_in is not None and locate(choice, skip_in).state == "present"

    def get(choice: DataFile) -> Fetched:
        return fetch_file(choice, to, mirror_url=mirror_url, skip_in=skip_in, progress=progress, timeout=timeout)

    present = next((c for c in need.choices if there(c)), None)
    if present is not None:
        return get(present)
    results: list[Fetched] = []
    for choice in need.choices:
        result = get(choice)
        if result.outcome == "fetched":
            return result
        results.append(result)
    return next((r for r in results if r.outcome == "failed"), results[0])
