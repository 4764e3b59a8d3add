"""Closed by default: `make run` serves the dashboard on 127.0.0.1 only, not on the machine's other addresses."""
from __future__ import annotations

import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def other_address() -> str | None:
    """An IPv4 address of this machine that is not a loopback one (None when it has none)."""
    candidates: list[str] = []
    trie = Path("/proc/net/fib_trie")
    if trie.is_file():
        lines = trie.read_text().splitlines()
        candidates += [prev.split()[-1] for prev, line in zip(lines, lines[1:]) if "/32 host LOCAL" in line]
    try:
        candidates += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    return next((a for a in candidates if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", a) and not a.startswith("127.")), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def make_run_command(port: int) -> list[str]:
    """The command `make run` runs (the set-up lines `make -n` may print before it are not run)."""
    dry = subprocess.run(["make", "-n", "run", f"PORT={port}"], cwd=REPO, capture_output=True, text=True, check=True)
    (line,) = [line for line in dry.stdout.splitlines() if " streamlit run " in line]
    return shlex.split(line)


def test_make_run_listens_on_loopback_only(tmp_path):
    address = other_address()
    if address is None:
        pytest.skip("this machine has no address besides the loopback one")
    port = free_port()
    command = make_run_command(port)
    assert "--server.address" in command and command[command.index("--server.address") + 1] == "127.0.0.1"
    with open(tmp_path / "server.log", "w") as log:
        server = subprocess.Popen([*command, "--server.fileWatcherType", "none"], cwd=REPO, stdout=log,
                                  stderr=subprocess.STDOUT, env={"ALCORE_RESULTS": str(tmp_path / "results"),
                                                                  "PATH": "/usr/bin:/bin"})
    try:
        deadline = time.monotonic() + 180
        while not answers("127.0.0.1", port):
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the dashboard did not start:\n" + (tmp_path / "server.log").read_text()
            time.sleep(0.5)
        assert not answers(address, port), f"the dashboard answers on {address}, not only on 127.0.0.1"
    finally:
        server.terminate()
        server.wait(timeout=30)
