#!/usr/bin/env python3
"""Merges several runs of one benchmark's Markdown into one: every figure in a table cell
("3.45 ms", "src 99.0 MB", "0.65x") becomes the median of the runs, followed by the runs'
range when they differ: "3.45 ms (3.30-3.61)". Headers and prose come from the first run; runs
whose tables have another shape are refused, naming the line.

Usage: bench-median.py RUN.md...   (prints the merged Markdown)
"""
import re
import statistics
import sys

NUMBER = re.compile(r"\d+(?:\.\d+)?")  # no sign: "-" separates a range


def decimals(text):
    return len(text.split(".")[1]) if "." in text else 0


def merge_cell(cells):
    """The first run's text with each figure replaced by the runs' median and range; a cell whose
    words differ between runs is the first run's."""
    skeletons = {NUMBER.sub("#", c) for c in cells}
    numbers = [NUMBER.findall(c) for c in cells]
    if len(skeletons) != 1 or not numbers[0]:
        return cells[0]
    figures = []
    for texts in zip(*numbers):
        values = [float(t) for t in texts]
        if len(set(values)) == 1:
            figures.append(texts[0])  # the same in every run: as printed (also "p01")
            continue
        places = max(decimals(t) for t in texts)
        fmt = lambda v: f"{v:.{places}f}"
        figures.append(f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})")
    it = iter(figures)
    return NUMBER.sub(lambda _: next(it), cells[0])


def merge(runs):
    lines = [r.splitlines() for r in runs]
    if len({len(l) for l in lines}) != 1:
        sys.exit(f"bench-median: the runs printed different numbers of lines: {[len(l) for l in lines]}")
    out = []
    for n, row in enumerate(zip(*lines), 1):
        first = row[0]
        if not first.startswith("|") or set(first.replace("|", "").strip()) <= set("- :"):
            out.append(first)
            continue
        split = [r.strip().strip("|").split("|") for r in row]
        if len({len(s) for s in split}) != 1:
            sys.exit(f"bench-median: line {n} has different columns in different runs: {row}")
        out.append("|" + "|".join(merge_cell(list(cells)) for cells in zip(*split)) + "|")
    return "\n".join(out)


if __name__ == "__main__":
    runs = [open(f).read() for f in sys.argv[1:]]
    if not runs:
        sys.exit("usage: bench-median.py RUN.md...")
    merged = merge(runs)
    if len(runs) > 1:
        merged = (f"Median of {len(runs)} runs; where they differ, their range follows in brackets.\n\n" + merged)
    print(merged)
