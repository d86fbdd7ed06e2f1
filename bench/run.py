#!/usr/bin/env python3
"""Side-by-side benchmark: Apache ZooKeeper vs zkeeper, same zoo.cfg, same workloads.

    python bench/run.py                  # full matrix (about 15 minutes on 2 cores)
    python bench/run.py --quick          # short rows, 100k znodes, smaller storm
    python bench/run.py --servers zkeeper --workloads get,set --sessions 8 --sections throughput
    python bench/run.py --sections recovery --mem-znodes 1000000   # the recovery row (and its bulk load)

See bench/README.md for what every row means. Exit status 0 only if every row ran
with zero errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import loadgen  # noqa: E402
import servers  # noqa: E402
import zkwire  # noqa: E402
from servers import LABEL, Server  # noqa: E402
from zkwire import REPO_ROOT  # noqa: E402

WORKLOADS = {
    "get": "getData 100 B",
    "set": "setData 100 B",
    "createdelete": "create+delete 100 B",
    "exists": "exists",
    "children": "getChildren, 1,000 children",
    "mix": "90% getData / 10% setData",
}
SECTIONS = ("throughput", "memory", "startup", "recovery", "storm")
DATA = b"x" * 100
N_DATA_NODES = 64
N_KIDS = 1000
LOAD_SESSIONS = 16
LOAD_INFLIGHT = 64
NOISY = 0.5   # foreign CPU (fraction of one core) above which a throughput row is flagged
NO_LOG_NOTE = ("Writes: ZooKeeper fsyncs its transaction log before answering; this zkeeper has no durable log "
               "(see the recovery row), so its write rows (setData, create+delete, mix, bulk create) do no disk I/O.")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- results --------------------------------------------------------------------------

@dataclass
class Cell:
    value: float | None = None          # the row's headline number
    text: str | None = None             # shown instead of value (n/a, failed ...)
    p50: float | None = None
    p99: float | None = None
    p999: float | None = None
    errors: int = 0
    error_detail: Counter[str] = field(default_factory=Counter)
    server_cpu: float | None = None     # fraction of one core during the measured window
    gen_cpu: float | None = None        # generator CPU, fraction of one core
    other_cpu: float | None = None      # everything else on the machine, fraction of one core
    cpu_per_op: float | None = None     # server CPU µs per reply in the measured window
    note: str = ""


@dataclass
class Row:
    label: str
    unit: str
    sessions: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)
    higher_is_better: bool = True


class Report:
    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        self.rows: dict[str, Row] = {}
        self.notes: list[str] = []
        self.profiles: list[str] = []
        self.failures: list[str] = []

    def row(self, key: str, label: str, unit: str, sessions: str = "", higher_is_better: bool = True) -> Row:
        if key not in self.rows:
            self.rows[key] = Row(label, unit, sessions, higher_is_better=higher_is_better)
        return self.rows[key]

    def total_errors(self) -> int:
        return sum(c.errors for r in self.rows.values() for c in r.cells.values()) + len(self.failures)


def fmt_num(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit in ("ops/s", "bytes/znode", "creates/s"):
        return f"{v:,.0f}"
    if unit == "MB":
        return f"{v:,.1f}"
    if unit in ("s",):
        return f"{v:.2f}"
    if unit == "µs":
        return f"{v:.1f}"
    if unit == "ms":
        return f"{v:,.1f}" if v >= 10 else f"{v:.2f}"
    return f"{v:.3g}"


def fmt_lat(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}"


def render(report: Report, header: list[str]) -> str:
    kinds = report.kinds
    both = "zookeeper" in kinds and "zkeeper" in kinds
    out = list(header)
    cols = ["row", "sess"]
    for k in kinds:
        cols.append(LABEL[k])
    if both:
        cols.append("zk/ZK")
    for k in kinds:
        cols.append(f"{LABEL[k]} p50 / p99 / p999 ms")
    if both:
        cols.append("zk/ZK p50 / p99 / p999")
    cols.append("errors " + " / ".join(LABEL[k] for k in kinds))
    out.append("| " + " | ".join(cols) + " |")
    out.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(cols))) + "|")
    for r in report.rows.values():
        cells = [f"{r.label} ({r.unit})", r.sessions]
        for k in kinds:
            c = r.cells.get(k)
            cells.append("not run" if c is None else (c.text or fmt_num(c.value, r.unit)))
        if both:
            a, b = r.cells.get("zkeeper"), r.cells.get("zookeeper")
            rt = ratio(a.value if a and not a.text else None, b.value if b and not b.text else None)
            if any(c is not None and c.other_cpu is not None and c.other_cpu > NOISY for c in (a, b)):
                rt += " †"
            cells.append(rt)
        for k in kinds:
            c = r.cells.get(k)
            if c is None or c.p50 is None:
                cells.append("")
            else:
                cells.append(f"{fmt_lat(c.p50)} / {fmt_lat(c.p99)} / {fmt_lat(c.p999)}")
        if both:
            a, b = r.cells.get("zkeeper"), r.cells.get("zookeeper")
            if a and b and a.p50 is not None and b.p50 is not None:
                cells.append(f"{ratio(a.p50, b.p50)} / {ratio(a.p99, b.p99)} / {ratio(a.p999, b.p999)}")
            else:
                cells.append("")
        cells.append(" / ".join("—" if r.cells.get(k) is None else str(r.cells[k].errors) for k in kinds))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("zk/ZK = zkeeper value / ZooKeeper value: above 1 is better for zkeeper on ops/s rows, "
               "worse on latency, memory and time rows.")
    if any(c.other_cpu is not None and c.other_cpu > NOISY for r in report.rows.values() for c in r.cells.values()):
        out.append(f"† = foreign load above {NOISY:.0%} of a CPU during that row on at least one server (see 'other' "
                   "below): the ops/s ratio is unreliable there, compare server µs CPU/op instead.")
    # CPU detail for the throughput rows: who was the bottleneck?
    cpu_rows = [r for r in report.rows.values() if any(c.server_cpu is not None for c in r.cells.values())]
    if cpu_rows:
        out.append("")
        out.append("CPU use during the measured window, in % of one core (server pinned to its core; "
                   "generator = sum over its worker processes; other = the rest of the machine's busy time, "
                   "i.e. foreign load, from /proc/stat), and the server's CPU time per answered request "
                   "(robust against foreign load, unlike ops/s):")
        out.append("")
        cols = ["row", "sess"] + [f"{LABEL[k]} server" for k in kinds] + [f"generator vs {LABEL[k]}" for k in kinds] \
            + [f"other during {LABEL[k]}" for k in kinds] + [f"{LABEL[k]} server µs CPU/op" for k in kinds] \
            + (["zk/ZK CPU/op"] if both else [])
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(cols))) + "|")
        for r in cpu_rows:
            cells = [r.label, r.sessions]
            for attr in ("server_cpu", "gen_cpu", "other_cpu"):
                for k in kinds:
                    c = r.cells.get(k)
                    v = getattr(c, attr) if c else None
                    cells.append("—" if v is None else f"{100 * v:.0f}%")
            for k in kinds:
                c = r.cells.get(k)
                cells.append("—" if c is None or c.cpu_per_op is None else f"{c.cpu_per_op:.1f}")
            if both:
                a, b = r.cells.get("zkeeper"), r.cells.get("zookeeper")
                cells.append(ratio(a.cpu_per_op if a else None, b.cpu_per_op if b else None))
            out.append("| " + " | ".join(cells) + " |")
    notes = [f"{r.label} [{LABEL[k]}]: {c.note}" for r in report.rows.values() for k, c in r.cells.items() if c.note]
    if notes or report.notes:
        out.append("")
        out.append("Notes:")
        out.extend(f"- {n}" for n in report.notes + notes)
    errs = [(r.label, r.sessions, k, c.error_detail) for r in report.rows.values() for k, c in r.cells.items()
            if c.errors]
    if errs or report.failures:
        out.append("")
        out.append("ERRORS:")
        for label, sess, k, detail in errs:
            out.append(f"- {label} {sess} [{LABEL[k]}]: " + ", ".join(f"{n}× {w}" for w, n in detail.most_common()))
        out.extend(f"- {f}" for f in report.failures)
    if report.profiles:
        out.append("")
        out.append("## Profiles (separate runs with py-spy attached; not part of the table)")
        out.extend(report.profiles)
    out.append("")
    out.append(f"load average at end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    total = report.total_errors()
    out.append("RESULT: " + ("PASS (no errors)" if total == 0 else f"FAIL ({total} errors)"))
    return "\n".join(out) + "\n"


# ---- environment ------------------------------------------------------------------------

def machine_header(args: argparse.Namespace, cmdline: str, pins: dict[str, set[int] | None]) -> list[str]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    mem_kb = first("/proc/meminfo", "MemTotal").split()[0]
    try:
        mem = f"{int(mem_kb) / 1024 / 1024:.1f} GiB"
    except ValueError:
        mem = "?"
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30).stderr.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        java = "java not found"
    git = "?"
    try:
        rev = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        git = rev + (" + uncommitted changes in src/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    loop = subprocess.run([sys.executable, "-c", "import uvloop; print('uvloop', uvloop.__version__)"],
                          capture_output=True, text=True, env=servers.zkeeper_env(args.zkeeper_pythonpath),
                          timeout=30).stdout.strip() or "asyncio (uvloop not importable)"
    try:
        df = subprocess.run(["df", "-hT", str(args.workdir)], capture_output=True, text=True,
                            timeout=10).stdout.splitlines()[-1].split()
        disk = f"{df[0]} ({df[1]})"
    except (OSError, subprocess.SubprocessError, IndexError):
        disk = "?"
    srv, cli = pins["server"], pins["client"]
    pin = ("server on CPU " + ",".join(map(str, sorted(srv))) + ", load generator and runner on CPU "
           + ",".join(map(str, sorted(cli or ())))) if srv else "no CPU pinning (single CPU)"
    return [
        "# zkeeper vs Apache ZooKeeper benchmark",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"- command: `{cmdline}`",
        f"- machine: {os.cpu_count()} CPUs ({first('/proc/cpuinfo', 'model name')}), {mem} RAM, "
        f"{platform.system()} {platform.release()}; dataDirs on {disk} under {args.workdir}",
        f"- pinning: {pin} (sched_setaffinity, same for both servers); "
        f"RLIMIT_NOFILE raised to the hard limit in generator and servers",
        f"- ZooKeeper: Debian 3.8.0 jar, `{' '.join(servers.zk_command(Path('zoo.cfg')))}`, {java}, default JVM flags",
        f"- zkeeper: git {git}, `PYTHONPATH=src python -m zkeeper.cli.zkserver start-foreground zoo.cfg`, "
        f"Python {platform.python_version()}, event loop: {loop}",
        "- zoo.cfg (both): " + ", ".join(f"{k}={v}" for k, v in servers.base_config(Path("<fresh>"), 0).items()
                                          if k not in ("dataDir", "clientPort")) + ", fresh dataDir per server start",
        f"- load average at start: {' '.join(Path('/proc/loadavg').read_text().split()[:3])} "
        "(other processes on this machine are not ours; see the 'other' CPU column)",
        f"- load: {args.inflight} requests in flight per session, up to {args.workers} generator processes, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per row, after a {args.server_warmup:g} s "
        "mixed warm-up of each fresh server; " + ("throughput rows interleaved (both servers up, each row run on "
                                                   "each server in turn)" if args.interleave else
                                                   "throughput rows run on one server, then the other"),
        "",
    ]


def default_pins(server_cpus: str | None, client_cpus: str | None) -> dict[str, set[int] | None]:
    avail = sorted(os.sched_getaffinity(0))
    parse = lambda s: {int(x) for x in s.split(",") if x != ""}  # noqa: E731
    if server_cpus is not None or client_cpus is not None:
        return {"server": parse(server_cpus or ""), "client": parse(client_cpus or "")}
    if len(avail) < 2:
        return {"server": None, "client": None}
    return {"server": {avail[0]}, "client": set(avail[1:])}


# ---- sections ------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, report: Report, pins: dict[str, set[int] | None]) -> None:
        self.args = args
        self.report = report
        self.pins = pins
        self.workdir = Path(args.workdir)
        self.counter = 0
        self.running: list[Server] = []

    def fresh_dir(self, kind: str, what: str) -> Path:
        self.counter += 1
        d = self.workdir / f"{self.counter:03d}-{kind}-{what}"
        d.mkdir(parents=True)
        return d

    def start(self, kind: str, what: str) -> Server:
        s = servers.start(kind, self.fresh_dir(kind, what), cpus=self.pins["server"],
                          zkeeper_pythonpath=self.args.zkeeper_pythonpath)
        self.running.append(s)
        return s

    def stop(self, s: Server) -> None:
        s.stop()
        if s in self.running:
            self.running.remove(s)

    def stop_all(self) -> None:
        for s in list(self.running):
            try:
                self.stop(s)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass

    def load(self, port: int, n_sessions: int, cycles: dict[int, list[bytes]], duration: float, warmup: float,
             server: Server | None = None, on_start: Callable[[], None] | None = None) -> loadgen.LoadResult:
        return loadgen.run_timed(port, n_sessions, self.args.workers, cycles, inflight=self.args.inflight,
                                 duration=duration, warmup=warmup, cpus=self.pins["client"],
                                 server_cpu=server.cpu_seconds if server else None, on_start=on_start,
                                 drain=60.0)

    # -- throughput ----------------------------------------------------------------------

    @staticmethod
    def setup_tree(port: int) -> None:
        c = zkwire.Client(port)
        try:
            tails = [zkwire.create("/bench", b""), zkwire.create("/bench/cd", b""),
                     zkwire.create("/bench/kids", b""), zkwire.create("/bench/storm", DATA)]
            tails += [zkwire.create(f"/bench/d{i}", DATA) for i in range(N_DATA_NODES)]
            tails += [zkwire.create(f"/bench/kids/c{i:04d}", b"") for i in range(N_KIDS)]
            bad = [err for err, _ in c.pipeline(tails) if err]
            if bad:
                raise RuntimeError(f"set-up creates failed: {Counter(bad)}")
        finally:
            c.close()

    def cycles(self, workload: str, n: int) -> dict[int, list[bytes]]:
        # create+delete paths are unique per row: a row that stops after a create leaves
        # its node behind, and the next row must not trip over it.
        self.counter += 1
        out = {}
        for g in range(n):
            node = f"/bench/d{g % N_DATA_NODES}"
            if workload == "get":
                out[g] = [zkwire.get_data(node)]
            elif workload == "set":
                out[g] = [zkwire.set_data(node, DATA)]
            elif workload == "createdelete":
                p = f"/bench/cd/r{self.counter}s{g}"
                out[g] = [zkwire.create(p, DATA), zkwire.delete(p)]
            elif workload == "exists":
                out[g] = [zkwire.exists(node)]
            elif workload == "children":
                out[g] = [zkwire.get_children("/bench/kids")]
            elif workload == "mix":
                ops = [zkwire.get_data(node)] * 9 + [zkwire.set_data(node, DATA)]
                k = g % 10
                out[g] = ops[k:] + ops[:k]
            else:
                raise ValueError(workload)
        return out

    def warm_server(self, s: Server) -> None:
        if self.args.server_warmup <= 0:
            return
        n = 8
        cyc = {}
        mixed = ["get", "set", "createdelete", "exists", "children", "mix", "get", "set"]
        for g in range(n):
            cyc[g] = self.cycles(mixed[g], g + 1)[g]
        r = self.load(s.port, n, cyc, self.args.server_warmup, 0.0)
        if r.error_count:
            raise RuntimeError(f"errors during server warm-up: {dict(r.errors)}")

    def throughput(self, kinds: list[str]) -> None:
        """All throughput rows. With several servers they all run at once (each pinned to the
        server CPU, idle while it is not its turn) and every row is run on each server in
        turn, so a pair of numbers is measured minutes apart at most, under the same
        background load."""
        args = self.args
        started: dict[str, Server] = {}
        try:
            for kind in kinds:
                s = self.start(kind, "throughput")
                started[kind] = s
                self.setup_tree(s.port)
            for kind, s in started.items():
                log(f"{kind}: warming up for {args.server_warmup:g} s")
                self.warm_server(s)
            for w in args.workloads:
                for n in args.sessions:
                    for kind, s in started.items():
                        self.throughput_row(kind, s, w, n)
            if args.profile and "zkeeper" in started:
                self.profile(started["zkeeper"])
        finally:
            for s in started.values():
                self.stop(s)

    def throughput_row(self, kind: str, s: Server, w: str, n: int) -> None:
        args = self.args
        row = self.report.row(f"tp-{w}-{n}", WORKLOADS[w], "ops/s", str(n))
        try:
            r = self.load(s.port, n, self.cycles(w, n), args.duration, args.warmup, server=s)
        except Exception as e:  # noqa: BLE001 - recorded, the run fails
            row.cells[kind] = Cell(text="failed", errors=1, error_detail=Counter({repr(e): 1}))
            log(f"{kind} {w} x{n}: FAILED {e!r}")
            if s.proc.poll() is not None:
                raise
            return
        cell = row.cells[kind] = Cell(
            value=r.throughput, p50=r.pct(0.5), p99=r.pct(0.99), p999=r.pct(0.999),
            errors=r.error_count, error_detail=r.errors,
            server_cpu=None if r.server_cpu is None else r.server_cpu / args.duration,
            gen_cpu=r.gen_cpu / r.gen_wall if r.gen_wall else None)
        if r.server_cpu is not None and r.ops:
            cell.cpu_per_op = r.server_cpu / r.ops * 1e6
        if r.busy_cpu is not None and r.server_cpu is not None and cell.gen_cpu is not None:
            cell.other_cpu = max(0.0, r.busy_cpu - r.server_cpu - cell.gen_cpu * args.duration) / args.duration
        log(f"{kind:9s} {w:12s} x{n:<3d} {r.throughput:10,.0f} ops/s  p50 {fmt_lat(r.pct(0.5))} "
            f"p99 {fmt_lat(r.pct(0.99))} p999 {fmt_lat(r.pct(0.999))} ms  errors {r.error_count}  "
            f"server cpu {cell.server_cpu or 0:.0%}  other {cell.other_cpu or 0:.0%}")

    # -- profile (zkeeper only, outside the table) ---------------------------------------------

    def profile(self, s: Server) -> None:
        pyspy = shutil.which("py-spy")
        if pyspy is None:
            self.report.notes.append("profile requested but py-spy is not installed (pip install py-spy)")
            return
        out_dir = Path(self.args.profile_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for w in self.args.profile_workloads:
            n = 8
            raw = out_dir / f"zkeeper-{w}-{n}.txt"
            svg = out_dir / f"zkeeper-{w}-{n}.svg"
            total = self.args.warmup + self.args.duration
            runs = []
            spy_stats = ""
            # Two identical runs: one records collapsed stacks (summarised below), one the SVG
            # flame graph (py-spy attaches one recorder at a time; blocking mode, 0 sample errors).
            for fmt, path in (("raw", raw), ("flamegraph", svg)):
                procs: list[subprocess.Popen[bytes]] = []

                def start_spy(fmt: str = fmt, path: Path = path, procs: list = procs) -> None:
                    cmd = [pyspy, "record", "--pid", str(s.pid), "--duration", str(max(1, int(round(total)))),
                           "--rate", "200", "--format", fmt, "--output", str(path)]
                    pin = self.pins["client"]
                    procs.append(subprocess.Popen(
                        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None))

                r = self.load(s.port, n, self.cycles(w, n), self.args.duration, self.args.warmup, server=s,
                              on_start=start_spy)
                runs.append(r)
                for p in procs:
                    try:
                        out, _ = p.communicate(timeout=60)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        out, _ = p.communicate(timeout=10)
                    text = (out or b"").decode(errors="replace")
                    if p.returncode != 0:
                        self.report.notes.append(f"py-spy exited {p.returncode}: {text[-300:]}")
                    m = re.search(r"Samples: (\d+) Errors: (\d+)", text)
                    if m and fmt == "raw":
                        spy_stats = f"{m.group(1)} samples, {m.group(2)} sampling errors"
            r = runs[0]
            lines = ["", f"### zkeeper profile: {WORKLOADS[w]}, {n} sessions (py-spy, 200 Hz, under profiling "
                     f"{r.throughput:,.0f} ops/s, server CPU {100 * (r.server_cpu or 0) / self.args.duration:.0f}%,"
                     f" errors {r.error_count})", "",
                     f"flame graph: {svg}; collapsed stacks: {raw} ({spy_stats})", ""]
            lines += summarize_profile(raw)
            self.report.profiles.append("\n".join(lines))
            for r in runs:
                if r.error_count:
                    self.report.failures.append(f"errors during profiled {w} run: {dict(r.errors)}")

    # -- memory and recovery -------------------------------------------------------------------

    def bulk_load(self, s: Server, n: int) -> tuple[float, loadgen.LoadResult]:
        c = zkwire.Client(s.port)
        try:
            tails = [zkwire.create("/m", b"")] + [zkwire.create(f"/m/s{g}", b"") for g in range(LOAD_SESSIONS)]
            bad = [e for e, _ in c.pipeline(tails) if e]
            if bad:
                raise RuntimeError(f"creating /m parents failed: {Counter(bad)}")
        finally:
            c.close()
        per = [n // LOAD_SESSIONS + (1 if g < n % LOAD_SESSIONS else 0) for g in range(LOAD_SESSIONS)]
        gens = {g: (loadgen.create_gen(f"/m/s{g}", DATA), per[g]) for g in range(LOAD_SESSIONS)}
        t0 = time.monotonic()
        r = loadgen.run_timed(s.port, LOAD_SESSIONS, self.args.workers, {}, inflight=LOAD_INFLIGHT,
                              duration=self.args.load_timeout, warmup=0.0, cpus=self.pins["client"],
                              mode="count", gens=gens)
        return time.monotonic() - t0, r

    def memory(self, kind: str, do_recovery: bool, largest_only: bool = False) -> None:
        sizes = [max(self.args.mem_znodes)] if largest_only else self.args.mem_znodes
        for i, n in enumerate(sizes):
            label_n = f"{n // 1000}k" if n < 1_000_000 else f"{n / 1e6:g}M"
            empty_row = self.report.row("rss-empty", "RSS, empty server", "MB", higher_is_better=False)
            rate_row = self.report.row(f"load-{n}", f"bulk create {label_n} znodes of 100 B", "creates/s",
                                       str(LOAD_SESSIONS))
            cpu_row = self.report.row(f"loadcpu-{n}", f"server CPU per bulk create, {label_n} znodes", "µs",
                                      str(LOAD_SESSIONS), higher_is_better=False)
            rss_row = self.report.row(f"rss-{n}", f"RSS with {label_n} znodes", "MB", higher_is_better=False)
            row = self.report.row(f"mem-{n}", f"memory per znode, {label_n} znodes of 100 B", "bytes/znode",
                                  higher_is_better=False)
            s = self.start(kind, f"mem{label_n}")
            try:
                time.sleep(1.0)
                rss0 = s.rss_bytes()
                if kind not in empty_row.cells:
                    empty_row.cells[kind] = Cell(value=rss0 / 2**20)
                log(f"{kind}: loading {n:,} znodes (RSS empty {rss0 / 2**20:.1f} MB)")
                cpu0 = s.cpu_seconds()
                wall, r = self.bulk_load(s, n)
                cpu_load = s.cpu_seconds() - cpu0
                rate_row.cells[kind] = Cell(value=n / wall if wall else None, errors=r.error_count,
                                            error_detail=r.errors)
                cpu_row.cells[kind] = Cell(value=cpu_load / n * 1e6)
                time.sleep(2.0)
                rss1 = s.rss_bytes()
                count = s.node_count()
                cell = Cell(value=(rss1 - rss0) / n, errors=r.error_count, error_detail=Counter(r.errors))
                if count < n:
                    cell.errors += 1
                    cell.error_detail[f"srvr Node count {count} < {n}"] += 1
                row.cells[kind] = cell
                rss_row.cells[kind] = Cell(value=rss1 / 2**20)
                log(f"{kind}: {n:,} znodes in {wall:.1f} s ({n / wall:,.0f}/s), RSS {rss1 / 2**20:.1f} MB, "
                    f"{(rss1 - rss0) / n:.0f} B/znode, node count {count}")
                if kind == "zookeeper" and self.args.java_heap:
                    heap = servers.java_heap_used(s.pid)
                    if heap is not None:
                        cell.note = (f"Java heap in use after a forced full GC (jcmd GC.run): "
                                     f"{heap / 2**20:.1f} MB = {heap / n:.0f} B/znode incl. the empty server's heap")
                if do_recovery and i == len(sizes) - 1:
                    self.recovery(kind, s, n, label_n)
            finally:
                self.stop(s)

    def recovery(self, kind: str, s: Server, n: int, label_n: str) -> None:
        row = self.report.row("recover", f"recover {label_n} znodes from disk, to serving", "s",
                              higher_is_better=False)
        times = []
        cell = Cell()
        for rep in range(self.args.recover_reps):
            self.stop(s)
            s2 = servers.restart_same(s, cpus=self.pins["server"], zkeeper_pythonpath=self.args.zkeeper_pythonpath)
            self.running.append(s2)
            s = s2
            t = s2.wait_serving(timeout=self.args.load_timeout)
            count = s2.node_count()
            if count < n:
                if kind == "zkeeper" and count < 100:
                    cell.text = "n/a (no durable log yet)"
                    cell.note = f"restarted zkeeper serves {count} znodes: nothing is persisted yet"
                    self.report.notes.append(NO_LOG_NOTE)
                else:
                    cell.errors += 1
                    cell.error_detail[f"recovered {count} znodes < {n}"] += 1
                break
            times.append(t)
            log(f"{kind}: recovered {count:,} znodes, serving after {t:.2f} s")
        if times:
            cell.value = statistics.median(times)
            cell.note = (f"median of {len(times)} restarts (SIGTERM, restart, until srvr reports a Mode); "
                         f"all: {', '.join(f'{x:.2f}' for x in times)} s") + (
                             "; ZooKeeper also writes a fresh snapshot at start-up" if kind == "zookeeper" else "")
        row.cells[kind] = cell
        self.stop(s)

    # -- startup -------------------------------------------------------------------------------------

    def startup(self, kind: str) -> None:
        row = self.report.row("startup", "start to serving, empty dataDir", "s", higher_is_better=False)
        times = []
        for rep in range(self.args.startup_reps):
            d = self.fresh_dir(kind, f"start{rep}")
            s = servers.start(kind, d, cpus=self.pins["server"], wait=False,
                              zkeeper_pythonpath=self.args.zkeeper_pythonpath)
            self.running.append(s)
            try:
                times.append(s.wait_serving(timeout=60, poll=0.005))
            finally:
                self.stop(s)
        med = statistics.median(times)
        row.cells[kind] = Cell(value=med, note=f"median of {len(times)}: " + ", ".join(f"{t:.3f}" for t in times)
                               + " s (process start until `srvr` answers with a Mode, polled every 5 ms)")
        log(f"{kind}: start to serving {med:.3f} s (median of {len(times)})")

    # -- watch storm ----------------------------------------------------------------------------------

    def storm(self, kind: str) -> None:
        n = self.args.storm_sessions
        row = self.report.row("storm", f"watch storm: 1 setData -> {n:,} watchers all notified", "ms",
                              str(n), higher_is_better=False)
        s = self.start(kind, "storm")
        try:
            c = zkwire.Client(s.port)
            try:
                err, _ = c.call(zkwire.create("/storm", DATA))
                if err:
                    raise RuntimeError(f"create /storm: error {err}")
            finally:
                c.close()

            def trigger() -> int:
                # A fresh session, so it cannot have expired while the watchers connected.
                t = zkwire.Client(s.port)
                try:
                    t0 = time.monotonic_ns()
                    e, _ = t.call(zkwire.set_data("/storm", DATA))
                finally:
                    t.close()
                if e:
                    raise RuntimeError(f"storm setData: error {e}")
                return t0

            t0 = time.monotonic()
            log(f"{kind}: watch storm with {n:,} sessions")
            r = loadgen.run_storm(s.port, n, max(2, self.args.workers), zkwire.get_data("/storm", watch=True),
                                  trigger, self.pins["client"], timeout=self.args.load_timeout)
            cell = Cell(errors=r.error_count, error_detail=r.errors)
            if r.notified and r.trigger_ns:
                d = [(t - r.trigger_ns) / 1e6 for t in r.notified]
                cell.value = d[-1]
                cell.p50 = d[len(d) // 2]
                cell.p99 = d[min(len(d) - 1, int(0.99 * len(d)))]
                cell.p999 = d[min(len(d) - 1, int(0.999 * len(d)))]
                cell.note = (f"{len(d):,} notifications; first after {d[0]:.1f} ms, last after {d[-1]:.1f} ms "
                             f"(latency columns: per-watcher notification delay); whole run incl. "
                             f"connecting {n:,} sessions {time.monotonic() - t0:.1f} s")
                log(f"{kind}: storm all {len(d):,} notified after {d[-1]:.1f} ms (first {d[0]:.1f} ms)")
            row.cells[kind] = cell
        finally:
            self.stop(s)


def summarize_profile(raw: Path, top: int = 15) -> list[str]:
    """Top functions by self time (leaf frame) and by total time, from py-spy's raw output."""
    if not raw.exists():
        return ["(no profile written)"]
    self_c: Counter[str] = Counter()
    incl_c: Counter[str] = Counter()
    total = 0
    idle = 0
    frame_re = re.compile(r"^(?P<fn>.*?) \((?P<file>[^():]*?)(?::\d+)?\)$")

    def name(frame: str, keep_line: bool = False) -> str:
        m = frame_re.match(frame.strip())
        if not m:
            return frame.strip()
        f = m.group("file")
        f = f[len("zkeeper/"):] if f.startswith("zkeeper/") else "/".join(f.split("/")[-2:])
        if keep_line:
            line = frame.strip().rsplit(":", 1)[-1].rstrip(")")
            return f"{m.group('fn')} ({f}:{line})"
        return f"{m.group('fn')} ({f})"

    for line in raw.read_text(errors="replace").splitlines():
        stack, _, cnt = line.rpartition(" ")
        if not stack or not cnt.isdigit():
            continue
        k = int(cnt)
        raw_frames = [f for f in stack.split(";") if f and "(" in f]
        if not raw_frames:
            continue
        frames = [name(f) for f in raw_frames]
        if frames[-1].startswith("_worker (") and "futures/thread.py" in frames[-1]:
            idle += k  # a thread-pool thread waiting for work (e.g. the fsync thread between batches)
            continue
        total += k
        leaf = frames[-1]
        if "(<string>" in leaf and len(raw_frames) > 1:
            # generated code (dataclass __init__, jute read/write): name the caller
            leaf = f"{leaf} <- {name(raw_frames[-2], keep_line=True)}"
        self_c[leaf] += k
        for f in set(frames):
            incl_c[f] += k
    if not total:
        return ["(profile is empty)"]
    out = [f"{total} busy samples ({idle} samples of idle thread-pool threads left out; self time of "
           "`Runner.run` is uvloop's C code: socket reads/writes and callback dispatch; `fsync_file` is the log "
           f"thread waiting for the disk, not CPU). Top {top} by self time:",
           "", "| self % | total % | function (file) |", "|---:|---:|---|"]
    for fn, k in self_c.most_common(top):
        out.append(f"| {100 * k / total:.1f} | {100 * incl_c[fn.split(' <- ')[0]] / total:.1f} | `{fn}` |")
    out += ["", f"Top {top} zkeeper functions by total (inclusive) time:", "", "| total % | function (file) |",
            "|---:|---|"]
    shown = 0
    for fn, k in incl_c.most_common():
        if not re.search(r"\((server|proto|jute|tree|txn|session|storage)/", fn):
            continue
        out.append(f"| {100 * k / total:.1f} | `{fn}` |")
        shown += 1
        if shown >= top:
            break
    by_file: Counter[str] = Counter()
    for fn, k in self_c.items():
        by_file[fn.split(" <- ")[0].rsplit("(", 1)[-1].rstrip(")")] += k
    out += ["", "Self time by file:", "", "| self % | file |", "|---:|---|"]
    for f, k in by_file.most_common(12):
        out.append(f"| {100 * k / total:.1f} | `{f}` |")
    return out


# ---- main ------------------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    csv = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    ints = lambda s: [int(float(x)) for x in s.split(",") if x]  # noqa: E731
    p.add_argument("--servers", type=csv, default=["zookeeper", "zkeeper"], help="zookeeper,zkeeper")
    p.add_argument("--workloads", type=csv, default=list(WORKLOADS), help=",".join(WORKLOADS))
    p.add_argument("--sessions", type=ints, default=[1, 8, 64], help="concurrent sessions per row (1,8,64)")
    p.add_argument("--sections", type=csv, default=list(SECTIONS), help=",".join(SECTIONS))
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per throughput row (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each row (1)")
    p.add_argument("--server-warmup", type=float, default=3.0, help="mixed load on each fresh server first (3)")
    p.add_argument("--inflight", type=int, default=32, help="requests in flight per session (32)")
    p.add_argument("--workers", type=int, default=2, help="load generator processes (2)")
    p.add_argument("--mem-znodes", type=ints, default=[100_000, 1_000_000],
                   help="znode counts for the memory rows; recovery uses the largest (100000,1000000)")
    p.add_argument("--startup-reps", type=int, default=5, help="repetitions of the start-up timing (5)")
    p.add_argument("--recover-reps", type=int, default=3, help="restarts for the recovery timing (3)")
    p.add_argument("--storm-sessions", type=int, default=10_000, help="sessions in the watch storm (10000)")
    p.add_argument("--load-timeout", type=float, default=900.0, help="bound on bulk loads / storm phases, s")
    p.add_argument("--quick", action="store_true",
                   help="2 s rows, 0.5 s warm-up, 100k znodes, 3 start-ups, 1 restart, 2,000-session storm")
    p.add_argument("--profile", action="store_true",
                   help="also run py-spy on zkeeper during getData and setData at 8 sessions (not in the table)")
    p.add_argument("--profile-dir", default="/tmp/zkeeper-bench-profiles")
    p.add_argument("--profile-workloads", type=csv, default=["get", "set"],
                   help="workloads to profile at 8 sessions (get,set)")
    p.add_argument("--no-java-heap", dest="java_heap", action="store_false",
                   help="skip the jcmd heap measurement note for ZooKeeper")
    p.add_argument("--server-cpus", default=None, help="CPUs for the server (default: first CPU)")
    p.add_argument("--client-cpus", default=None, help="CPUs for the load generator (default: the others)")
    p.add_argument("--workdir", default=None, help="where dataDirs go (default: a new /tmp/zkbench-* folder)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (server logs, data)")
    p.add_argument("--out", default=None, help="also write the report (markdown) to this file")
    p.add_argument("--no-interleave", dest="interleave", action="store_false",
                   help="run all throughput rows on one server, then on the other (default: both servers "
                        "up, each row run on each server in turn)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to this long for the machine to be quiet (< 0.2 CPU busy over 5 s)")
    p.add_argument("--zkeeper-pythonpath", default=None, help="extra PYTHONPATH for the zkeeper server")
    args = p.parse_args(argv)
    if args.quick:
        given = set(a.split("=")[0] for a in argv)
        defaults = {"--duration": 2.0, "--warmup": 0.5, "--server-warmup": 1.0, "--mem-znodes": [100_000],
                    "--startup-reps": 3, "--recover-reps": 1, "--storm-sessions": 2000}
        for flag, v in defaults.items():
            if flag not in given:
                setattr(args, flag[2:].replace("-", "_"), v)
    bad = [w for w in args.workloads if w not in WORKLOADS] + [s for s in args.servers if s not in servers.KINDS] \
        + [s for s in args.sections if s not in SECTIONS] + [w for w in args.profile_workloads if w not in WORKLOADS]
    if bad:
        p.error(f"unknown name(s): {', '.join(bad)}")
    if args.sessions and max(args.sessions) < 1:
        p.error("--sessions must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    cmdline = "python " + shlex.join(sys.argv if argv is None else [sys.argv[0], *argv])
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    own_workdir = args.workdir is None
    if own_workdir:
        args.workdir = tempfile.mkdtemp(prefix="zkbench-")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    pins = default_pins(args.server_cpus, args.client_cpus)
    if pins["client"]:
        os.sched_setaffinity(0, pins["client"])
    zkwire.raise_nofile()
    report = Report(args.servers)
    if args.wait_idle > 0:
        deadline = time.monotonic() + args.wait_idle
        while True:
            b0 = loadgen.machine_busy()
            time.sleep(5)
            busy = (loadgen.machine_busy() - b0) / 5
            if busy < 0.2:
                report.notes.append(f"machine was quiet at start ({busy:.0%} of one CPU busy over 5 s)")
                break
            if time.monotonic() >= deadline:
                report.notes.append(f"machine NOT quiet at start: {busy:.0%} of one CPU busy over 5 s "
                                    f"after waiting {args.wait_idle:g} s")
                break
            log(f"waiting for a quiet machine: {busy:.0%} of one CPU busy")
    header = machine_header(args, cmdline, pins)
    print("\n".join(header), flush=True)
    bench = Bench(args, report, pins)
    kinds = args.servers

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    # Pre-create rows in display order.
    if "throughput" in args.sections:
        for w in args.workloads:
            for n in args.sessions:
                report.row(f"tp-{w}-{n}", WORKLOADS[w], "ops/s", str(n))
    if "throughput" in args.sections and max(args.sessions, default=0) * args.inflight > 1000:
        report.notes.append("ZooKeeper throttles at globalOutstandingLimit=1000 requests (default); "
                        f"{max(args.sessions)} sessions x {args.inflight} in flight exceed it, so ZooKeeper briefly stops "
                        "reading sockets there (no errors, higher latency).")
    try:
        plan: list[tuple[str, list[str], Callable[[], None]]] = []
        if "throughput" in args.sections:
            if args.interleave:
                plan.append(("throughput", kinds, lambda: bench.throughput(kinds)))
            else:
                plan += [("throughput", [k], lambda k=k: bench.throughput([k])) for k in kinds]  # type: ignore[misc]
        for kind in kinds:
            if "startup" in args.sections:
                plan.append(("startup", [kind], lambda k=kind: bench.startup(k)))  # type: ignore[misc]
            if ("memory" in args.sections or "recovery" in args.sections) and args.mem_znodes:
                # Recovery restarts the server the largest memory row loaded; without the
                # memory section only that one is loaded (its bulk-create rows come along).
                plan.append(("memory" if "memory" in args.sections else "recovery", [kind],
                             lambda k=kind: bench.memory(k, "recovery" in args.sections,  # type: ignore[misc]
                                                         largest_only="memory" not in args.sections)))
            if "storm" in args.sections and args.storm_sessions > 0:
                plan.append(("storm", [kind], lambda k=kind: bench.storm(k)))  # type: ignore[misc]
        for section, who, fn in plan:
            names = " + ".join(LABEL[k] for k in who)
            try:
                log(f"== {names}: {section}")
                fn()
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - record and carry on with the next section
                report.failures.append(f"{names} {section}: {e!r}")
                log(f"{names} {section} FAILED:\n{traceback.format_exc()}")
            finally:
                bench.stop_all()
    except KeyboardInterrupt:
        report.failures.append("interrupted")
    finally:
        bench.stop_all()
        if own_workdir and not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    text = render(report, [])
    print(text, flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(header) + "\n" + text)
    return 0 if report.total_errors() == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
