#!/usr/bin/env python3
"""Benchmark results: the one summary table of docs/benchmarks.md.

Every benchmark reports its headline figures as JSON lines appended to the file named by
``BENCH_RESULTS`` (``add`` below for the shell scripts; the Rust programs write the same
members). ``merge`` folds a run's lines into ``bench/results.jsonl`` (one record per benchmark
name, the newest wins, each with its machine and date) and ``render`` writes the table between
the markers of docs/benchmarks.md. ``bench/run`` does all three.

A record: ``name``, ``ours`` (a number), ``unit``, and optionally ``baseline`` (a number in the
same unit), ``baseline_name``, ``goal_ratio`` (ours ÷ baseline must be at least this),
``goal_max`` / ``goal_min`` (ours must be at most / at least this), ``detail`` (free text).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BEGIN = (
    "<!-- bench/run: begin (written by bench/run from bench/results.jsonl; not edited by hand) -->"
)
END = "<!-- bench/run: end -->"
TIMES = "\u00d7"  # the multiplication sign of ratios


def machine() -> str:
    """The CPU model, core count, memory and OS of this machine, in one line."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kib = 0
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
                break
        memory = f"{memory_kib / 1024 / 1024:.0f} GiB"
    except OSError:
        memory = "unknown memory"
    return f"{model}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}"


def commit() -> str:
    """The commit the benchmarks ran on (with `+changes` when the tree was not clean)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+changes" if dirty else head


def add(args: argparse.Namespace) -> None:
    """Appends one record to $BENCH_RESULTS (nothing to do when it is not set)."""
    target = os.environ.get("BENCH_RESULTS")
    if not target:
        return
    record: dict[str, Any] = {"name": args.name, "ours": args.ours, "unit": args.unit}
    for key in ("baseline", "baseline_name", "goal_ratio", "goal_max", "goal_min", "detail"):
        value = getattr(args, key)
        if value is not None:
            record[key] = value
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; a line that is not a record is an error naming it."""
    records = []
    if not path.exists():
        return records
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            sys.exit(f"{path}:{number}: not JSON ({error.msg})")
        if not isinstance(record, dict) or not isinstance(record.get("name"), str):
            sys.exit(f"{path}:{number}: a record needs a string `name`")
        if not isinstance(record.get("ours"), (int, float)):
            sys.exit(f"{path}:{number}: `ours` of {record['name']!r} is not a number")
        records.append(record)
    return records


def merge(args: argparse.Namespace) -> None:
    """Folds the run's records into the results file: same name replaces, order kept."""
    run = read_records(Path(args.run))
    stamp = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "commit": commit(),
    }
    store = Path(args.store)
    kept = read_records(store)
    index = {record["name"]: i for i, record in enumerate(kept)}
    for record in run:
        record = {**record, **stamp}
        if record["name"] in index:
            kept[index[record["name"]]] = record
        else:
            index[record["name"]] = len(kept)
            kept.append(record)
    store.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8"
    )
    print(f"{len(run)} results of this run merged into {store} ({len(kept)} in all)")


def number(value: float) -> str:
    """A figure with as many digits as it deserves."""
    if abs(value) >= 100:
        return f"{value:,.0f}".replace(",", " ")
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def judge(record: dict[str, Any]) -> tuple[str, str, str]:
    """The ratio, goal and met cells of a record."""
    ours = record["ours"]
    baseline = record.get("baseline")
    ratio = ours / baseline if isinstance(baseline, (int, float)) and baseline else None
    goals, met = [], []
    if "goal_ratio" in record:
        goals.append(f"≥ {record['goal_ratio']}{TIMES}")
        met.append(ratio is not None and ratio >= record["goal_ratio"])
    if "goal_max" in record:
        goals.append(f"≤ {number(record['goal_max'])} {record['unit']}")
        met.append(ours <= record["goal_max"])
    if "goal_min" in record:
        goals.append(f"≥ {number(record['goal_min'])} {record['unit']}")
        met.append(ours >= record["goal_min"])
    ratio_cell = f"{ratio:.2f}{TIMES}" if ratio is not None else ""
    met_cell = ("yes" if all(met) else "**no**") if met else ""
    return ratio_cell, ", ".join(goals), met_cell


def table(records: list[dict[str, Any]]) -> str:
    """The summary table and the machines and dates it came from."""
    lines = [
        "| benchmark | ours | baseline | ours ÷ baseline | goal | met | measured |",
        "|---|---|---|---|---|---|---|",
    ]
    machines: dict[str, int] = {}
    for record in records:
        machine_id = machines.setdefault(record.get("machine", "unknown"), len(machines) + 1)
        ours = f"{number(record['ours'])} {record['unit']}"
        if record.get("detail"):
            ours += f" ({record['detail']})"
        baseline = ""
        if isinstance(record.get("baseline"), (int, float)):
            baseline = f"{number(record['baseline'])} {record['unit']}"
            if record.get("baseline_name"):
                baseline = f"{record['baseline_name']}: {baseline}"
        ratio, goal, met = judge(record)
        when = f"{record.get('date', '?')}, {record.get('commit', '?')}, machine {machine_id}"
        name = record["name"].replace("|", "\\|")
        lines.append(f"| {name} | {ours} | {baseline} | {ratio} | {goal} | {met} | {when} |")
    lines.append("")
    for description, machine_id in machines.items():
        lines.append(f"Machine {machine_id}: {description}.")
    return "\n".join(lines) + "\n"


def render(args: argparse.Namespace) -> None:
    """Writes the table between the markers of the document (after its title when it has none)."""
    text = table(read_records(Path(args.store)))
    document = Path(args.document)
    current = document.read_text(encoding="utf-8") if document.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        updated = head + block + tail
    else:
        title, _, body = current.partition("\n")
        updated = f"{title}\n\n{block}\n{body}"
    document.write_text(updated, encoding="utf-8")
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    adding = commands.add_parser("add", help="append one result to $BENCH_RESULTS")
    adding.add_argument("--name", required=True)
    adding.add_argument("--ours", required=True, type=float)
    adding.add_argument("--unit", required=True)
    adding.add_argument("--baseline", type=float)
    adding.add_argument("--baseline-name")
    adding.add_argument("--goal-ratio", type=float)
    adding.add_argument("--goal-max", type=float)
    adding.add_argument("--goal-min", type=float)
    adding.add_argument("--detail")
    adding.set_defaults(func=add)
    merging = commands.add_parser("merge", help="fold a run's results into the results file")
    merging.add_argument("run")
    merging.add_argument("store")
    merging.set_defaults(func=merge)
    rendering = commands.add_parser("render", help="write the summary table into a document")
    rendering.add_argument("store")
    rendering.add_argument("document")
    rendering.set_defaults(func=render)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
