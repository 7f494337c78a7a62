"""Crash consistency: ``python -m retrieval add``, ``remove`` and ``build`` killed with SIGKILL at
many moments, and two writers started at once, each against a real index folder.

Kill moments: half spread over a whole run's duration (measured first, unkilled), half inside its
save (from the moment the new generation's temporary folder appears to the end), so the write
itself is hit, not only start-up. After each kill the index must load at a complete generation
(the products before or after the change, vectors, rows and embeddings in agreement) and the
same command must then succeed (the lock and the temporary folder of the dead writer in no one's
way). Two writers at once must both land (the second waits for the first) or one must fail with
a clear error; neither may be lost silently.
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from retrieval import Product, ProductIndex, build_index, writer_lock

POLL_S = 0.005


@dataclass
class Outcome:
    command: str
    moment: str
    lost: str = ""                 # the index did not load at a complete generation
    unrecovered: str = ""          # the same command failed after the kill
    state: str = ""                # "before", "after" or "killed before it ran"

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.unrecovered)


def write_catalogue(products: list[Product], folder: Path) -> Path:
    (folder / "images").mkdir(parents=True)
    with open(folder / "catalog.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "title", "image", "gender", "colour", "article_type"])
        for p in products:
            name = f"{p.id}{Path(p.image_path).suffix}"
            shutil.copy(p.image_path, folder / "images" / name)
            writer.writerow([p.id, p.title, f"images/{name}", p.gender, p.colour, p.article_type])
    return folder / "catalog.csv"


def fresh_copy(base: Path, scratch: Path) -> None:
    """``scratch`` becomes a copy of the index ``base`` (whatever a killed writer left there)."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(base, scratch)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "retrieval", *args]


def complete_generation(folder: Path, allowed: dict[str, set[str]]) -> tuple[str, str]:
    """("", state) when ``folder`` loads with the products of one allowed state and its parts
    agree; else (what is wrong, "")."""
    try:
        index = ProductIndex.load(folder)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        return f"does not load: {type(exc).__name__}: {exc}"[:200], ""
    ids = set(index.all_ids())
    state = next((name for name, want in allowed.items() if ids == want), "")
    if not state:
        return f"{len(ids)} products: neither before nor after", ""
    if not (len(index.hnsw) == len(index.keys) == len(ids) == len(index.embeddings.image)):
        return (f"parts disagree: {len(index.hnsw)} vectors, {len(index.keys)} keys, {len(ids)} rows, "
                f"{len(index.embeddings.image)} embeddings"), ""
    if ids and not index.search(index.vector(next(iter(ids))), 3):
        return "loads but finds nothing", ""
    return "", state


def timed_run(args: list[str], folder: Path) -> tuple[float, float]:
    """(seconds to the save's temporary folder, seconds in all) of one unkilled run."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, text=True)
        saving = None
        while proc.poll() is None:
            if saving is None and any(folder.glob(".tmp-gen-*")):
                saving = time.perf_counter() - start
            time.sleep(POLL_S)
        total = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"`{' '.join(args)}` failed: {err.read()[-2000:]}")
    return (saving if saving is not None else total), total


def kill_at(args: list[str], folder: Path, after_s: float, in_save: bool) -> None:
    """Start ``args`` and SIGKILL it ``after_s`` seconds after its start (or after its save's
    temporary folder appears, with ``in_save``)."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    if in_save:
        while proc.poll() is None and not any(folder.glob(".tmp-gen-*")):
            time.sleep(POLL_S)
        start = time.perf_counter()
    while proc.poll() is None and time.perf_counter() - start < after_s:
        time.sleep(POLL_S)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def kill_series(name: str, args: list[str], base: Path, scratch: Path, allowed: dict, points: int,
                log) -> list[Outcome]:
    """``points`` kills of ``args`` (which name ``scratch`` as the index) on fresh copies of ``base``."""
    fresh_copy(base, scratch)
    saving, total = timed_run(args, scratch)
    moments = [("run", total * (i + 0.5) / (points - points // 2)) for i in range(points - points // 2)]
    moments += [("save", (total - saving) * (i + 0.5) / (points // 2)) for i in range(points // 2)]
    out = []
    for where, after in log(moments, f"kill -9 during {name}"):
        fresh_copy(base, scratch)
        kill_at(args, scratch, after, where == "save")
        o = Outcome(name, f"{after:.2f}s into the {where}")
        o.lost, o.state = complete_generation(scratch, allowed)
        if not o.lost:
            o.unrecovered = recovered(args, scratch, allowed, o.state)
        out.append(o)
    return out


def recovered(args: list[str], folder: Path, allowed: dict, state: str) -> str:
    """What stops the next writer after a kill ("" when nothing): the dead writer's lock and
    temporary folder must not block a save, and a change that did not land must run again."""
    try:
        with writer_lock(folder, wait=10):
            ProductIndex.load(folder).save(folder)
    except Exception as exc:  # noqa: BLE001
        return f"the next save failed: {type(exc).__name__}: {exc}"[:200]
    if state == "before":
        again = subprocess.run(args, capture_output=True, text=True)
        if again.returncode != 0:
            return f"the rerun failed: {(again.stderr.strip().splitlines() or ['?'])[-1][:200]}"
        problem, state = complete_generation(folder, allowed)
        if problem or state != "after":
            return problem or f"the rerun left the index {state}"
    return ""


def two_writers(base: Path, scratch: Path, catalogues: list[Path], ids: list[set[str]],
                before: set[str], rounds: int, log) -> list[Outcome]:
    out = []
    for r in log(range(rounds), "two writers at once"):
        fresh_copy(base, scratch)
        logs = [tempfile.TemporaryFile("w+") for _ in catalogues]
        procs = [subprocess.Popen(cli("add", "--index", str(scratch), "--catalog", str(c)),
                                  stdout=subprocess.DEVNULL, stderr=fh, text=True)
                 for c, fh in zip(catalogues, logs)]
        results = []
        for p, fh in zip(procs, logs):
            code = p.wait()
            fh.seek(0)
            results.append((code, fh.read()))
            fh.close()
        o = Outcome("two writers (add + add)", f"round {r + 1}")
        landed = [code == 0 for code, _ in results]
        want = before | set().union(*(i for i, ok in zip(ids, landed) if ok))
        o.lost, o.state = complete_generation(scratch, {"both" if all(landed) else "one": want})
        for (_, err), ok in zip(results, landed):
            if not ok and "error:" not in err:
                o.lost = o.lost or f"a writer failed without a clear error: {err[-300:]}"
        out.append(o)
    return out


def run_crashes(products: list[Product], work: Path, points: int, log) -> list[Outcome]:
    """Kill series for add, remove and build, and concurrent writers, on catalogues cut from
    ``products`` (a base and two additions)."""
    n = len(products)
    base_p, add_p, add2_p = products[:n // 2], products[n // 2:3 * n // 4], products[3 * n // 4:]
    base_csv = write_catalogue(base_p, work / "base")
    add_csv, add2_csv = write_catalogue(add_p, work / "add"), write_catalogue(add2_p, work / "add2")
    base = work / "index"
    build_index(base_csv, base)
    before = {p.id for p in base_p}
    added, added2 = {p.id for p in add_p}, {p.id for p in add2_p}
    scratch = work / "scratch"
    gone = sorted(before)[:5]
    out = kill_series("add", cli("add", "--index", str(scratch), "--catalog", str(add_csv)), base,
                      scratch, {"before": before, "after": before | added}, points, log)
    out += kill_series("remove", cli("remove", "--index", str(scratch), *[a for g in gone for a in ("--id", g)]),
                       base, scratch, {"before": before, "after": before - set(gone)},
                       max(2, points // 2), log)
    out += kill_series("build", cli("build", "--catalog", str(add_csv), "--out", str(scratch)), base,
                       scratch, {"before": before, "after": added}, max(2, points // 4), log)
    out += two_writers(base, scratch, [add_csv, add2_csv], [added, added2], before,
                       max(1, points // 8), log)
    return out
