"""Run folders: written whole or not at all, read whole or refused, --out checked first.

A run folder is sealed by ``manifest.json`` (every file's size and SHA-256) and swapped in
whole; readers (``RunData.from_dir``, ``custseg report``) check the seal. The last test kills
real saves at random moments and checks the folder is always one whole run.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.errors import InputError
from custseg.outputs import folder as run_folder
from custseg.report.data import RunData
from custseg.report.manifest import MANIFEST, run_id

runner = CliRunner()
ARGS = {"k_max": 4}


@pytest.fixture(scope="module")
def tx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small transactions file (Parquet), as a user would give it."""
    frame, _ = make_transactions(300, seed=1)
    path = tmp_path_factory.mktemp("input") / "tx.parquet"
    frame.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def runs(tx: Path) -> dict[int, custseg.SegmentationResult]:
    return {seed: custseg.segment(tx, seed=seed, **ARGS) for seed in (1, 2)}


@pytest.fixture(scope="module")
def references(
    runs: dict[int, custseg.SegmentationResult], tmp_path_factory: pytest.TempPathFactory
) -> dict[int, dict[str, bytes]]:
    """The bytes of every file of a complete run of each seed."""
    refs = {}
    for seed, result in runs.items():
        out = tmp_path_factory.mktemp("ref") / f"seed{seed}"
        custseg.save(result, out)
        refs[seed] = files_of(out)
    return refs


def customer_table() -> pd.DataFrame:
    """One row per customer, three clear groups (a run of the other kind)."""
    rng = np.random.default_rng(0)
    n = 150
    group = np.arange(n) % 3
    return pd.DataFrame(
        {
            "client": [f"C{i:04d}" for i in range(n)],
            "income": np.array([20_000, 50_000, 90_000])[group] + rng.normal(0, 2_000, n),
            "wine": np.array([10, 200, 900])[group] + rng.normal(0, 5, n).round(),
            "meat": np.array([5, 150, 600])[group] + rng.normal(0, 5, n).round(),
        }
    )


def files_of(out: Path, hidden: bool = True) -> dict[str, bytes]:
    """Every file of a folder (relative names) and its bytes; without ``hidden``, not those
    of hidden entries (the staging folder of an interrupted in-place commit)."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and (hidden or not p.relative_to(out).parts[0].startswith("."))
    }


def hidden_beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith("."))


def refused(exc: pytest.ExceptionInfo[InputError], *needles: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


# --- sealed folders and whole replacement ---------------------------------------------------


def test_a_run_folder_is_sealed_by_its_manifest(tx: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    custseg.run(tx, out, seed=1, **ARGS)
    doc = json.loads((out / MANIFEST).read_text())
    names = set(run_folder.OUTPUT_FILES)
    assert set(doc["files"]) == names
    assert {p.name for p in out.iterdir()} == names | {MANIFEST}
    for name, entry in doc["files"].items():
        data = (out / name).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == __import__("hashlib").sha256(data).hexdigest()
    assert doc["run"] == run_id(doc["files"])
    assert hidden_beside(out) == []
    assert RunData.from_dir(out).audit == json.loads((out / "audit.json").read_text())


def test_a_run_of_the_other_kind_replaces_the_folder_whole(tx: Path, tmp_path: Path) -> None:
    """Issue 12: the old exploration.json stayed beside a customer-table run and was drawn."""
    out = tmp_path / "out"
    custseg.run(tx, out, seed=0, **ARGS)
    assert (out / "exploration.json").is_file()
    custseg.run(customer_table(), out, kind="customers", seed=0, **ARGS)
    assert not (out / "exploration.json").exists()
    assert json.loads((out / "model.json").read_text())["kind"] == "customers"
    data = RunData.from_dir(out)
    assert data.exploration is None
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output


def test_same_run_twice_gives_the_same_folder(
    runs: dict[int, custseg.SegmentationResult], tmp_path: Path
) -> None:
    custseg.save(runs[1], tmp_path / "a")
    custseg.save(runs[1], tmp_path / "b")
    custseg.save(runs[1], tmp_path / "b")  # over itself
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")


@pytest.mark.parametrize("how", ["exchange", "two renames", "in place", "working folder"])
def test_every_way_of_replacing_a_run_leaves_one_whole_run(
    how: str,
    runs: dict[int, custseg.SegmentationResult],
    references: dict[int, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    custseg.save(runs[1], out)
    if how == "two renames":
        monkeypatch.setattr(run_folder, "TWO_RENAMES", True)
    elif how == "in place":
        monkeypatch.setattr(run_folder, "IN_PLACE", True)
    elif how == "working folder":
        monkeypatch.chdir(out)  # the folder cannot move from under the user's shell
    inode = out.stat().st_ino
    custseg.save(runs[2], out)
    assert files_of(out) == references[2]
    assert hidden_beside(out) == [] and not [p for p in out.iterdir() if p.name[0] == "."]
    assert (out.stat().st_ino == inode) == (how in ("in place", "working folder"))
    assert Path.cwd().exists()


def test_a_failed_run_keeps_the_previous_run(
    tx: Path, references: dict[int, dict[str, bytes]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    custseg.run(tx, out, seed=1, **ARGS)
    with pytest.raises(custseg.CustsegError):
        custseg.run(tx, out, seed=1, k=10_000)
    assert files_of(out) == references[1]
    assert hidden_beside(out) == []


# --- readers refuse anything but one whole run ----------------------------------------------


@pytest.fixture
def sealed(runs: dict[int, custseg.SegmentationResult], tmp_path: Path) -> Path:
    out = tmp_path / "run"
    custseg.save(runs[1], out)
    return out


def assert_report_refuses(folder: Path, *needles: str) -> None:
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "Traceback" not in result.output and "error:" in text
    for needle in needles:
        assert needle in text, text
    with pytest.raises(InputError) as exc:
        RunData.from_dir(folder)
    refused(exc, *needles)


def test_a_folder_mixing_two_runs_is_refused(
    sealed: Path, runs: dict[int, custseg.SegmentationResult], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    custseg.save(runs[2], other)
    shutil.copy(other / "model.json", sealed / "model.json")
    assert (other / "model.json").read_bytes() != (sealed / "manifest.json").read_bytes()
    before = files_of(sealed)
    assert_report_refuses(sealed, "model.json does not match", "manifest.json", "run custseg run")
    assert files_of(sealed) == before  # a refused folder is left as it is


def test_an_unsealed_folder_is_refused(sealed: Path) -> None:
    (sealed / MANIFEST).unlink()
    assert_report_refuses(sealed, "no manifest.json")


def test_a_stale_file_beside_a_run_is_refused(tx: Path, sealed: Path, tmp_path: Path) -> None:
    customers = tmp_path / "customers"
    custseg.run(customer_table(), customers, kind="customers", seed=0, **ARGS)
    shutil.copy(sealed / "exploration.json", customers / "exploration.json")
    assert_report_refuses(customers, "exploration.json is not part of the run")


def test_a_folder_missing_a_file_is_refused(sealed: Path) -> None:
    (sealed / "segments.parquet").unlink()
    assert_report_refuses(sealed, "segments.parquet")


@pytest.mark.parametrize(
    "content",
    [
        b"[1, 2]",
        b"\x80\x04\x95pickle",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"format": "custseg.run/1", "run": "x", "files": {"../etc/passwd": {}}}',
        b'{"format": "custseg.run/1", "run": "x", "files": []}',
        b"{" * 10 + b" " * (2 << 20),
    ],
    ids=["list", "pickle", "deep", "path", "files-list", "huge"],
)
def test_a_hostile_manifest_is_refused_in_one_line(sealed: Path, content: bytes) -> None:
    (sealed / MANIFEST).write_bytes(content)
    assert_report_refuses(sealed, "manifest.json")


def test_a_manifest_with_a_wrong_run_id_is_refused(sealed: Path) -> None:
    doc = json.loads((sealed / MANIFEST).read_text())
    doc["run"] = "0" * 16
    (sealed / MANIFEST).write_text(json.dumps(doc))
    assert_report_refuses(sealed, "run id")


def test_the_report_command_reseals_and_keeps_the_run_bytes(sealed: Path) -> None:
    before = files_of(sealed)
    (sealed / "notes.txt").write_text("mine")  # the user's file is kept
    result = runner.invoke(app, ["report", str(sealed), "--lang", "fr"])
    assert result.exit_code == 0, result.output
    after = files_of(sealed)
    assert after.pop("notes.txt") == b"mine"
    changed = {n for n in after if after[n] != before.get(n)}
    assert changed == {"report.html", MANIFEST}
    RunData.from_dir(sealed)  # sealed again
    assert hidden_beside(sealed) == [] and not [p for p in sealed.iterdir() if p.name[0] == "."]


# --- --out is checked before any work -------------------------------------------------------


MISSING_INPUT = Path("/nonexistent/input.csv")  # never read: --out is refused first


def test_out_holding_foreign_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model.json").write_text("{}")  # a custseg name is fine, notes.txt is not
    with pytest.raises(InputError) as exc:
        custseg.run(MISSING_INPUT, out)
    refused(exc, "--out", str(out), "notes.txt", "did not write")
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "notes.txt"]
    result = runner.invoke(app, ["run", str(MISSING_INPUT), "--out", str(out)])
    assert result.exit_code == 1 and "notes.txt" in result.output


def test_out_under_a_file_is_refused_before_reading_the_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for out in (blocker, blocker / "run", blocker / "a" / "b"):
        with pytest.raises(InputError) as exc:
            custseg.run(MISSING_INPUT, out)
        refused(exc, "--out", str(out), "is a file")
        result = runner.invoke(app, ["run", str(MISSING_INPUT), "--out", str(out)])
        assert result.exit_code == 1 and "is a file" in result.output, result.output
    assert blocker.read_text() == "x"


def test_save_checks_out_too(runs: dict[int, custseg.SegmentationResult], tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(InputError) as exc:
        custseg.save(runs[1], blocker / "run")
    refused(exc, "--out", "is a file")


def test_out_holding_the_input_is_refused(tx: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    inner = out / "segments.parquet"
    shutil.copy(tx, inner)
    with pytest.raises(InputError) as exc:
        custseg.run(inner, out)
    refused(exc, "holds the input", "overwrite")
    assert inner.read_bytes() == tx.read_bytes()


def _mount(target: Path, options: str) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.fixture
def mounted(tmp_path: Path, request: pytest.FixtureRequest):
    """A fresh file system mounted at a folder (root only), unmounted afterwards."""
    if not hasattr(os, "getuid") or os.getuid() != 0:
        pytest.skip("mounting a file system needs root")
    point = tmp_path / "mnt"
    point.mkdir()
    size = getattr(request, "param", "32m")
    if not _mount(point, f"rw,size={size}"):
        pytest.skip("this system does not let tests mount a tmpfs")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.fixture
def read_only(tmp_path: Path, request: pytest.FixtureRequest):
    """A read-only folder holding an empty folder ``old``.

    Root ignores permissions, so as root it is a read-only file system (a tmpfs remounted
    read-only); otherwise a folder without write permission.
    """
    if hasattr(os, "getuid") and os.getuid() == 0:
        point = request.getfixturevalue("mounted")
        (point / "old").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        yield point
    else:
        locked = tmp_path / "locked"
        (locked / "old").mkdir(parents=True)
        (locked / "old").chmod(0o555)
        locked.chmod(0o555)
        try:
            yield locked
        finally:
            locked.chmod(0o755)
            (locked / "old").chmod(0o755)


def test_read_only_places_are_refused_before_any_work(read_only: Path) -> None:
    """A read-only folder, a new folder in a read-only one, a missing parent not creatable."""
    cases = {
        read_only / "old": "not writable",
        read_only / "new": "cannot write in",
        read_only / "a" / "b": "cannot create the folder",
    }
    for out, needle in cases.items():
        with pytest.raises(InputError) as exc:
            custseg.run(MISSING_INPUT, out)
        refused(exc, "--out", str(out), needle)
        result = runner.invoke(app, ["run", str(MISSING_INPUT), "--out", str(out)])
        assert result.exit_code == 1 and needle in " ".join(result.output.split())


def test_a_mount_point_is_replaced_in_place(
    mounted: Path,
    runs: dict[int, custseg.SegmentationResult],
    references: dict[int, dict[str, bytes]],
) -> None:
    """A folder that cannot be renamed (a mount point: a Docker volume, say)."""
    custseg.save(runs[1], mounted)
    custseg.save(runs[2], mounted)
    assert files_of(mounted) == references[2]
    assert os.path.ismount(mounted)


# --- leftovers of interrupted runs -----------------------------------------------------------


def test_leftovers_of_interrupted_runs_are_removed_by_the_next_run(
    runs: dict[int, custseg.SegmentationResult],
    references: dict[int, dict[str, bytes]],
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    custseg.save(runs[1], out)
    (tmp_path / ".out.custseg-tmp-dead1").mkdir()
    (tmp_path / ".out.custseg-tmp-dead1" / "segments.csv").write_text("half")
    (tmp_path / ".out.custseg-old-dead2").mkdir()
    (out / ".segments.csv.k2j3.tmp").write_text("half")  # older per-file writers
    (out / "segments.csv.1").write_text("block")
    (out / ".custseg-tmp-dead3").mkdir()
    (tmp_path / ".other.custseg-tmp-x").mkdir()  # another folder's: not ours to remove
    custseg.save(runs[2], out)
    assert files_of(out) == references[2]
    assert hidden_beside(out) == [".other.custseg-tmp-x"]


def test_a_run_set_aside_by_an_interrupted_swap_is_restored(
    references: dict[int, dict[str, bytes]],
    runs: dict[int, custseg.SegmentationResult],
    tmp_path: Path,
) -> None:
    """Killed between the two renames: the old run is put back before the next run starts."""
    out = tmp_path / "out"
    custseg.save(runs[1], out)
    out.rename(tmp_path / ".out.custseg-old-ab12")
    with pytest.raises(custseg.CustsegError):
        custseg.run(MISSING_INPUT, out)
    assert files_of(out) == references[1]
    assert hidden_beside(out) == []


# --- fault injection: kill saves at random moments ------------------------------------------

DRIVER = textwrap.dedent(
    """
    import os, pickle, signal, sys, time
    import custseg
    from custseg.outputs import folder

    runs = pickle.load(open(sys.argv[1], "rb"))
    custseg.save(runs[1], sys.argv[2])  # warm up every lazy import before forking
    print("ready", flush=True)
    for line in sys.stdin:
        seed, delay, out, in_place = line.split()
        folder.IN_PLACE = in_place == "1"
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                custseg.save(runs[int(seed)], out)
            finally:
                os._exit(0)
        if float(delay) >= 0:
            time.sleep(float(delay))
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        took = time.perf_counter() - start
        print("killed" if os.WIFSIGNALED(status) else "finished", took, flush=True)
    """
)


def which_run(out: Path, references: dict[int, dict[str, bytes]]) -> int | None:
    """The seed whose complete run ``out`` holds, or None."""
    if not out.is_dir():
        return None
    now = files_of(out, hidden=False)
    found = [seed for seed, ref in references.items() if now == ref]
    return found[0] if found else None


def test_a_killed_save_leaves_one_whole_run(
    runs: dict[int, custseg.SegmentationResult],
    references: dict[int, dict[str, bytes]],
    tmp_path: Path,
) -> None:
    pickled = tmp_path / "runs.pkl"
    pickled.write_bytes(pickle.dumps(runs))
    scratch = tmp_path / "scratch"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(pickled), str(scratch)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert driver.stdin is not None and driver.stdout is not None
    rng = random.Random(12)

    def save(seed: int, delay: float, out: Path, in_place: bool = False) -> tuple[str, float]:
        assert driver.stdin is not None and driver.stdout is not None
        driver.stdin.write(f"{seed} {delay} {out} {int(in_place)}\n")
        driver.stdin.flush()
        state, took = driver.stdout.readline().split()
        return state, float(took)

    try:
        assert driver.stdout.readline().strip() == "ready"
        plans = {
            "swap": (tmp_path / "swap" / "out", False, 22),
            "in place": (tmp_path / "inplace" / "out", True, 10),
        }
        for out, in_place, kills in plans.values():
            out.parent.mkdir()
            state, _ = save(1, -1, out, in_place)  # a first complete run
            assert state == "finished" and which_run(out, references) == 1
            state, whole = save(2, -1, out, in_place)  # a run replacing it, timed
            assert state == "finished" and which_run(out, references) == 2
            kinds: set[str] = set()
            leftovers_seen = False
            # at least `kills` kills, and more (up to four times as many) until both outcomes
            # and leftovers were seen: on a loaded machine the timing of one save varies
            for i in range(kills * 4):
                if i >= kills and {"old", "new"} <= kinds and leftovers_seen:
                    break
                current = which_run(out, references)
                seed = 2 if current == 1 else 1
                # half the kills in the last fifth of a save, where the swap happens
                delay = whole * (rng.uniform(0.8, 1.1) if i % 2 else rng.uniform(0, 1.1))
                state, _ = save(seed, delay, out, in_place)
                found = which_run(out, references)
                leftovers_seen |= bool(hidden_beside(out)) or any(
                    p.name.startswith(".") for p in out.iterdir()
                )
                if found is None:
                    # only an in-place commit has a moment where the folder is neither run:
                    # then it is unsealed, and every reader refuses it
                    assert in_place, f"kill {i} after {delay:.3f}s left a mixed folder"
                    assert not (out / MANIFEST).exists()
                    with pytest.raises(InputError):
                        RunData.from_dir(out)
                    kinds.add("refused")
                    continue
                kinds.add("new" if found == seed else "old")
                data = RunData.from_dir(out)
                assert data.model_doc == json.loads(references[found]["model.json"])
                if i % 7 == 3:  # the command too (it reseals the same bytes)
                    result = runner.invoke(app, ["report", str(out)])
                    assert result.exit_code == 0, result.output
                    assert which_run(out, references) == found
            assert {"old", "new"} <= kinds, kinds
            assert leftovers_seen
            state, _ = save(2, -1, out, in_place)  # the next run cleans every leftover
            assert state == "finished" and which_run(out, references) == 2
            assert hidden_beside(out) == []
            assert not [p for p in out.iterdir() if p.name.startswith(".")]
    finally:
        driver.stdin.close()
        try:
            driver.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            driver.send_signal(signal.SIGKILL)
            raise


@pytest.mark.parametrize("mounted", ["8m"], indirect=True)
def test_a_full_disk_keeps_the_previous_run(
    mounted: Path,
    runs: dict[int, custseg.SegmentationResult],
    references: dict[int, dict[str, bytes]],
) -> None:
    """Room for one run only: the second fails in one line and the first stays whole."""
    custseg.save(runs[1], mounted)
    with pytest.raises(InputError) as exc:
        custseg.save(runs[2], mounted)
    refused(exc, "--out", "No space left", "free some space")
    assert files_of(mounted) == references[1]
