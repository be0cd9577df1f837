#!/usr/bin/env python3
"""Draws the latency benchmark's table (bench/latency_bench.cpp, merged by
scripts/bench-median.py) with gnuplot into docs/benchmarks-latency.png: approval and revocation
latency, p50 and p99 with the runs' range as error bars, against catalog size (one peer) and
against peer count. Prints the Markdown that shows it.

Usage: plot-latency.py MERGED.md
"""
import pathlib
import re
import subprocess
import sys
import tempfile

NUMBER = re.compile(r"\d+(?:\.\d+)?")  # no sign: "-" separates a range
root = pathlib.Path(__file__).resolve().parent.parent
png = root / "docs" / "benchmarks-latency.png"


def figure(cell):
    """(median, low, high) of a merged cell: "3.45 (3.30-3.61) ms" or "3.45 ms"."""
    values = [float(v) for v in NUMBER.findall(cell)]
    return (values[0], values[1], values[2]) if len(values) >= 3 else (values[0], values[0], values[0])


rows = []
for line in pathlib.Path(sys.argv[1]).read_text().splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 6 and re.fullmatch(r"\d+", cells[0]) and re.fullmatch(r"\d+", cells[1]):
        rows.append((int(cells[0]), int(cells[1]), [figure(c) for c in cells[2:]]))
if not rows:
    sys.exit("plot-latency: no rows of peers and catalog size in the table")

with tempfile.TemporaryDirectory() as tmp:
    by_size = pathlib.Path(tmp) / "size.dat"
    by_peers = pathlib.Path(tmp) / "peers.dat"
    fixed = max((n for p, n, _ in rows if p > 1), default=None)

    def write(path, points):
        # x, then median/low/high for approval p50, p99, revocation p50, p99
        path.write_text("".join(f"{x} " + " ".join(f"{m} {lo} {hi}" for m, lo, hi in f) + "\n"
                                for x, f in sorted(points)))

    write(by_size, [(max(n, 1), f) for p, n, f in rows if p == 1])  # log axis: 0 exports plotted at 1
    write(by_peers, [(p, f) for p, n, f in rows if n == fixed or (p == 1 and n == fixed)])
    series = [(2, "approval p50"), (5, "approval p99"), (8, "revocation p50"), (11, "revocation p99")]

    def plot(data):
        return ", ".join(f"'{data}' using 1:{c}:{c + 1}:{c + 2} with yerrorlines title '{t}'" for c, t in series)

    script = f"""
set terminal pngcairo size 1200,460 font 'DejaVu Sans,10'
set output '{png}'
set multiplot layout 1,2 title 'meshfed: approval -> active and revocation -> withdrawn at every peer (median of runs, range as bars)'
set grid
set offsets graph 0.03, graph 0.03, 0, 0
set key top left
set ylabel 'ms (log scale)'
set logscale xy 10
set xlabel 'exports already in the catalog (1 peer; 0 drawn at 1)'
plot {plot(by_size)}
unset logscale xy
set ylabel 'ms'
set yrange [0:*]
set xlabel 'peers ({fixed} exports in the catalog)'
plot {plot(by_peers)}
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)

print(f"\n![Approval and revocation latency against catalog size and peer count]({png.name})")
