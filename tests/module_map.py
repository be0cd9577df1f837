#!/usr/bin/env python3
"""Checks the module map that CMakeLists.txt declares against the sources.

Usage: module_map.py SOURCE_DIR MODULE_MAP_FILE

Each line of the map is "module: dependency...". Every #include of another module's header
(include/meshfed/<m>/ as "meshfed/<m>/...", or a private header of src/<m>/ as "<m>/...") in
src/<module>/ or include/meshfed/<module>/ must name a declared dependency, and the
declarations must form no cycle. Prints each violation with its file and line.
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"(?:meshfed/)?([a-z_]+)/')


def read_map(path):
    modules = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if line.strip():
            name, _, deps = line.partition(":")
            modules[name.strip()] = set(deps.split())
    return modules


def violations(root, modules):
    for name, deps in sorted(modules.items()):
        for folder in (root / "src" / name, root / "include" / "meshfed" / name):
            for f in sorted(folder.glob("*.[ch]pp")) if folder.is_dir() else []:
                for n, line in enumerate(f.read_text().splitlines(), 1):
                    m = INCLUDE.match(line)
                    if m and m.group(1) in modules and m.group(1) != name and m.group(1) not in deps:
                        yield f"{f.relative_to(root)}:{n}: module {name} includes {m.group(1)}, not among its MODULES"


def cycle(modules):
    state = {}

    def visit(m, path):
        if state.get(m) == "done":
            return None
        if state.get(m) == "open":
            return path[path.index(m):] + [m]
        state[m] = "open"
        for d in sorted(modules.get(m, ())):
            found = visit(d, path + [m])
            if found:
                return found
        state[m] = "done"
        return None

    for m in sorted(modules):
        found = visit(m, [])
        if found:
            return found
    return None


def main():
    root, map_file = pathlib.Path(sys.argv[1]), sys.argv[2]
    modules = read_map(map_file)
    problems = list(violations(root, modules))
    undeclared = [d for deps in modules.values() for d in deps if d not in modules]
    problems += [f"{map_file}: dependency {d} is not a module" for d in sorted(set(undeclared))]
    loop = cycle(modules)
    if loop:
        problems.append(f"{map_file}: the modules form a cycle: {' -> '.join(loop)}")
    src_modules = {p.name for p in (root / "src").iterdir() if p.is_dir()}
    problems += [f"src/{m}: a folder that is no module in CMakeLists.txt" for m in sorted(src_modules - set(modules))]
    for p in problems:
        print(p)
    print(f"{len(modules)} modules, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
