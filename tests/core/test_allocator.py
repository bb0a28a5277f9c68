"""The allocator settings: the command re-executes itself once with glibc's tunables."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hepxai.core import allocator


@pytest.fixture
def captured_exec(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, args, env: calls.append((path, args, env)))
    monkeypatch.setattr(allocator, "_is_glibc", lambda: True)
    for name in (allocator.MARKER, "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_reexec_runs_the_same_command_with_the_tunables(captured_exec):
    allocator.reexec_with_tunables(["train", "muon", "--epochs", "2"])
    [(path, args, env)] = captured_exec
    assert path == sys.executable
    assert args == [sys.executable, "-m", "hepxai", "train", "muon", "--epochs", "2"]
    assert env["GLIBC_TUNABLES"] == allocator.TUNABLES and env[allocator.MARKER] == "1"


@pytest.mark.parametrize("variable", [allocator.MARKER, "GLIBC_TUNABLES"])
def test_no_reexec_once_done_or_when_the_user_set_tunables(captured_exec, monkeypatch, variable):
    monkeypatch.setenv(variable, "0")
    allocator.reexec_with_tunables(["demo", "muon"])
    assert captured_exec == []


def test_the_reexecuted_command_works():
    # end to end on this machine: ``python -m hepxai`` re-executes itself (on glibc) and the
    # command still parses its arguments and exits as usual
    env = {k: v for k, v in os.environ.items() if k not in (allocator.MARKER, "GLIBC_TUNABLES")}
    help_run = subprocess.run([sys.executable, "-m", "hepxai", "--help"], env=env,
                              capture_output=True, text=True)
    assert help_run.returncode == 0 and "usage: hepxai" in help_run.stdout
    bad = subprocess.run([sys.executable, "-m", "hepxai", "train", "muon", "--model", "resnet"],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
