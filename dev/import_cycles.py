"""`make lint`'s import-cycle check: ruff has no rule for cycles, but `ruff analyze graph` maps each file to the
files it imports (those inside functions and under TYPE_CHECKING included); any strongly connected set of more
than one file is a cycle, printed with its files. Usage: import_cycles.py <ruff> <package folder>..."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one file, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, [])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            step = next((edge for edge in edges if edge in graph), None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(graph[step])))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def main(ruff: str, folders: list[str]) -> int:
    failed = 0
    for folder in folders:
        output = subprocess.run([ruff, "analyze", "graph", "."], cwd=folder, check=True, capture_output=True, text=True)
        for cycle in cycles(json.loads(output.stdout)):
            failed = 1
            print(f"import cycle in {folder}: " + " <-> ".join(str(Path(folder) / path) for path in cycle))
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
