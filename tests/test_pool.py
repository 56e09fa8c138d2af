"""The final-training pool's worker processes leave with their parent, even one killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A parent whose one pool worker is busy for two minutes (a long training), as the final stage's pool would be.
PARENT = """
import multiprocessing, os, time
from mixsearch.search.engine.pool import exit_with_parent

if __name__ == "__main__":
    pool = multiprocessing.get_context("spawn").Pool(1, initializer=exit_with_parent)
    worker = pool.apply(os.getpid)
    pool.apply_async(time.sleep, (120,))
    print(worker, flush=True)
    time.sleep(120)
"""


def running(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie no one reaped yet has)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


@pytest.mark.slow  # about 5 s: the parent and its spawned worker each import torch
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_worker_exits_when_its_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    )
    worker = int(parent.stdout.readline())
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while running(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(worker)
    finally:
        if running(worker):
            os.kill(worker, signal.SIGKILL)
