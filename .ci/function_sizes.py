"""Function sizes in src/: fails when one (migrations aside) is over the limit.

Prints the longest functions and the median, so a change that grows one shows it.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

LIMIT = 60
MEDIAN_LIMIT = 10


def sizes(root: Path) -> list[tuple[int, str]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                found.append((node.end_lineno - node.lineno + 1, f"{path}:{node.lineno} {node.name}"))
    return found


def main() -> int:
    found = sizes(Path(sys.argv[1] if len(sys.argv) > 1 else "src"))
    found.sort(reverse=True)
    median = statistics.median(size for size, _ in found)
    for size, where in found[:10]:
        print(f"{size:4d}  {where}")
    over = [item for item in found if item[0] > LIMIT]
    print(f"{len(found)} functions, median {median} lines, {len(over)} over {LIMIT}")
    return 1 if over or median > MEDIAN_LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
