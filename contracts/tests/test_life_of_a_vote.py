"""docs/architecture.md's "The life of a vote" names every file and function a vote passes through: each must
exist, so the walk-through a newcomer follows cannot drift from the code unnoticed."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## The life of a vote"
# A file in backquotes, then the names it defines, each in backquotes: `path/file.py` `Class.method`, `function`
STEP = re.compile(r"`([\w./-]+\.(?:py|toml|json))`((?:,? `[A-Za-z_][\w.]*`)*)")


def life_of_a_vote() -> list[tuple[str, list[str]]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert SECTION in text, f"docs/architecture.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    section = section.split("\n1. ", 1)[1]  # the steps, after the introduction
    return [(path, re.findall(r"`([^`]+)`", names)) for path, names in STEP.findall(" ".join(section.split()))]


def python_names(path: Path) -> set[str]:
    """Every class, function, method and module-level assignment, by qualified name."""
    found: set[str] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                found.add(prefix + child.name)
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.Assign) and not prefix:
                found.update(t.id for t in child.targets if isinstance(t, ast.Name))

    visit(ast.parse(path.read_text()), "")
    return found


def test_every_file_and_function_a_vote_passes_through_exists():
    steps = life_of_a_vote()
    files = [path for path, _ in steps]
    assert files[0] == "services.toml" and "gateway/routes.toml" in files, "it starts at the gateway's route"
    assert "services/polls-service/polls/selectors.py" in files, "it ends at polls-service's total_votes"
    problems = []
    for path, names in steps:
        file = ROOT / path
        if not file.is_file():
            problems.append(f"{path} does not exist")
            continue
        if path.endswith(".py"):
            defined = python_names(file)
            problems += [f"{path} defines no {name}" for name in names if name not in defined]
        else:
            text = file.read_text()
            problems += [f"{path} names no {name!r}" for name in names if f'name = "{name}"' not in text]
    assert not problems, "docs/architecture.md's life of a vote is out of date: " + "; ".join(problems)
    assert sum(len(names) for _, names in steps) >= 20
