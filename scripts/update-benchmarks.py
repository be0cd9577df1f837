#!/usr/bin/env python3
"""Replaces one benchmark's section in docs/benchmarks.md (or in $MESHFED_DOC), stamped with the command and machine."""
import datetime
import os
import pathlib
import platform
import re
import subprocess
import sys

name, command, body = sys.argv[1], sys.argv[2].strip(), sys.argv[3]
doc = pathlib.Path(__file__).resolve().parent.parent / os.environ.get("MESHFED_DOC", "docs/benchmarks.md")
text = doc.read_text() if doc.exists() else "# Benchmarks\n\nEach section is written by the command it names.\n"

cpu = "unknown CPU"
for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
disk = subprocess.run(["df", "-h", "--output=source,fstype", "/tmp"], capture_output=True, text=True).stdout.split("\n")[1]
machine = f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}, /tmp on {' '.join(disk.split())}"
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

section = (f"<!-- bench:{name} -->\n## {name}\n\n"
           f"Command: `{command}`  \nMachine: {machine}  \nRun: {stamp}\n\n{body.strip()}\n<!-- /bench:{name} -->\n")
pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->\n", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
doc.write_text(text)
