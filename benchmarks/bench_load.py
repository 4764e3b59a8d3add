"""A class following one live run: does it stall the run? (`python benchmarks/bench_load.py`)

Starts the dashboard as `make run` does, launches the synthetic default (frozen) from its Setup page,
and follows the run with 0, 5 and 20 sessions on its Live page. A session is a websocket speaking
Streamlit's protocol without rendering anything (as browsers on other machines would cost this one
nothing): it asks for the page, answers each `run_every` fragment's timer as the browser does, and
times each refresh from its request to the end of that script run. Per configuration it prints the
run's seconds per round (median interval between rounds landing, round 0 excluded), the server
process's CPU seconds while the run computed, and the refresh latency (median and 95th percentile).
One warm-up run first fills the feature cache, so every measured run does the same work.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def server_command(port: int) -> list[str]:
    """The command `make run` runs (its set-up lines are not)."""
    dry = subprocess.run(["make", "-n", "run", f"PORT={port}"], cwd=REPO, capture_output=True, text=True, check=True)
    (line,) = [line for line in dry.stdout.splitlines() if " streamlit run " in line]
    return [*shlex.split(line), "--server.fileWatcherType", "none"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Session:
    """One browser tab on the dashboard, minus the browser: requests pages, keeps fragment timers."""

    def __init__(self, url: str, page: str, query: str = ""):
        self.url, self.page, self.query = url, page, query
        self.timers: dict[str, float] = {}  # fragment id -> interval (s)
        self.latencies: list[float] = []
        self.buttons: dict[str, str] = {}  # widget key suffix -> widget id
        self.finished = asyncio.Event()
        self._sent_at: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        async with websockets.connect(self.url, subprotocols=["streamlit"], max_size=None) as ws:
            self.ws = ws
            await self.rerun()
            receiver = asyncio.create_task(self._receive())
            due: dict[str, float] = {}
            while not stop.is_set() and not receiver.done():
                now = time.monotonic()
                for fragment, interval in list(self.timers.items()):
                    due.setdefault(fragment, now + interval)
                    if now >= due[fragment] and self._sent_at is None:
                        due[fragment] = now + interval
                        await self.rerun(fragment)
                for fragment in set(due) - set(self.timers):
                    del due[fragment]
                await asyncio.sleep(0.05)
            receiver.cancel()

    async def rerun(self, fragment: str = "", widgets: list | None = None) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name = self.query, self.page
        if fragment:
            state.fragment_id, state.is_auto_rerun = fragment, True
        for widget_id in widgets or []:
            state.widget_states.widgets.add(id=widget_id, trigger_value=True)
        self._sent_at = time.monotonic() if fragment else None
        self.finished.clear()
        await self.ws.send(msg.SerializeToString())

    async def _receive(self) -> None:
        async for data in self.ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session" and not msg.metadata.run.fragment_ids:
                self.timers.clear()  # a full run: its fragments register their timers again, as in a browser
            elif kind == "auto_rerun":
                self.timers[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "button":
                    self.buttons[element.button.id.rsplit("-", 1)[-1]] = element.button.id
            elif kind == "script_finished":
                if self._sent_at is not None:
                    self.latencies.append(time.monotonic() - self._sent_at)
                    self._sent_at = None
                self.finished.set()


def run_ids(results: Path) -> set[str]:
    return {p.name for p in results.iterdir() if (p / "config.json").is_file()} if results.is_dir() else set()


async def launch(url: str, results: Path) -> str:
    """Click Launch on Setup (the synthetic default) and return the new run's id."""
    before = run_ids(results)
    setup = Session(url, "setup")
    stop = asyncio.Event()
    task = asyncio.create_task(setup.run(stop))
    deadline = time.monotonic() + 300
    while "setup_launch" not in setup.buttons:
        assert time.monotonic() < deadline, "the Setup page did not show its Launch button"
        await asyncio.sleep(0.1)
    await setup.finished.wait()
    await setup.rerun(widgets=[setup.buttons["setup_launch"]])
    while not (run_ids(results) - before):
        assert time.monotonic() < deadline, "Launch started no run"
        await asyncio.sleep(0.05)
    stop.set()
    await task
    return (run_ids(results) - before).pop()


async def follow(url: str, results: Path, sessions: int, server_pid: int) -> dict:
    """Launch a run, follow it with `sessions` Live pages until it ends; what it cost and how fast it went."""
    cpu_before = cpu_seconds(server_pid)
    run_id = await launch(url, results)
    stop = asyncio.Event()
    tabs = [Session(url, "live", f"run={run_id}") for _ in range(sessions)]
    tasks = [asyncio.create_task(tab.run(stop)) for tab in tabs]
    rounds_file, status_file = results / run_id / "rounds.jsonl", results / run_id / "status.json"
    landed: list[float] = []
    while True:
        count = len(rounds_file.read_text().splitlines()) if rounds_file.is_file() else 0
        landed += [time.monotonic()] * (count - len(landed))
        state = json.loads(status_file.read_text()).get("state") if status_file.is_file() else "running"
        if state not in ("running", "waiting_for_labels"):
            break
        await asyncio.sleep(0.05)
    cpu = cpu_seconds(server_pid) - cpu_before
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(x for tab in tabs for x in tab.latencies)
    intervals = [b - a for a, b in zip(landed, landed[1:])]
    return {"sessions": sessions, "state": state, "rounds": len(landed),
            "round_s": statistics.median(intervals) if intervals else float("nan"),
            "server_cpu_s": cpu, "refreshes": len(latencies),
            "latency_median_s": statistics.median(latencies) if latencies else float("nan"),
            "latency_p95_s": latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")}


def format_row(row: dict) -> str:
    return (f"{row['sessions']:>8.0f} {row['rounds']:>6.0f} {row['round_s']:>8.2f} {row['server_cpu_s']:>12.1f} "
            f"{row['refreshes']:>9.0f} {row['latency_median_s']:>16.3f} {row['latency_p95_s']:>6.3f}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="0,5,20", help="comma list of Live sessions to measure")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each count this often, in alternating order (0,5,20,20,5,0,...): on a "
                             "shared machine other jobs come and go, and the medians are what to compare")
    args = parser.parse_args()
    counts = [int(x) for x in args.sessions.split(",")]
    work = Path(tempfile.mkdtemp(prefix="alcore-bench-load-"))
    results, port = work / "results", free_port()
    env = {**os.environ, "ALCORE_RESULTS": str(results)}
    env.setdefault("ALCORE_CACHE", str(REPO / ".cache" / "alcore"))
    with open(work / "server.log", "w") as log:
        server = subprocess.Popen(server_command(port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (work / "server.log").read_text()
                time.sleep(0.5)
        print(f"server pid {server.pid}, results in {results}; warm-up run (fills the feature cache)...", flush=True)
        warm = asyncio.run(follow(url, results, 0, server.pid))
        print(f"warm-up: {warm['state']}, {warm['rounds']} rounds", flush=True)
        print(f"{'sessions':>8} {'rounds':>6} {'s/round':>8} {'server CPU s':>12} {'refreshes':>9} "
              f"{'latency median s':>16} {'p95 s':>6}")
        rows = []
        for k in range(args.repeat):
            for n in counts if k % 2 == 0 else counts[::-1]:
                rows.append(asyncio.run(follow(url, results, n, server.pid)))
                print(format_row(rows[-1]), flush=True)
        print(f"\nmedians over {args.repeat} repeat(s):")
        base = None
        for n in counts:
            mine = [r for r in rows if r["sessions"] == n]
            median = {key: statistics.median(r[key] for r in mine) for key in mine[0] if key != "state"}
            base = base or median["round_s"]
            print(format_row(median) + f"   per-round time {median['round_s'] / base - 1:+.0%} vs {counts[0]}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
