"""The shared-facts, atomic-write and allocator modules: dependency-free, and atomic writes that are atomic."""

import os
import subprocess
import sys

import pytest

from automix.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_shared_modules_import_neither_numpy_nor_torch():
    code = ("import sys, automix.conventions, automix.atomic, automix.allocator\n"
            "print(sorted(m for m in ('numpy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target and tmp.suffix == ".json"
        tmp.write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the writer is done
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_atomic_path_leaves_no_temporary_when_the_writer_raises(tmp_path):
    target = tmp_path / "stem.wav"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target, suffix=".tmp") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stem.wav"]


def test_atomic_write_helpers(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "text\n")
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "a.txt").read_text() == "text\n" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_tune_glibc_malloc_applies_on_glibc_only():
    code = ("import platform\nfrom automix.allocator import tune_glibc_malloc\n"
            "print(tune_glibc_malloc(mmap_threshold=32 * 2**20, trim_threshold=256 * 2**20),"
            " platform.libc_ver()[0] == 'glibc')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    applied, is_glibc = out.stdout.split()
    assert applied == is_glibc
