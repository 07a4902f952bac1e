"""docs/RELIABILITY.md and this suite in step: each row of the table has a test tagged with its case, and back.

A test shows a case by carrying `@case(category, name)` (faultkit.case) or, in a parametrize list,
`case_param(category, name, ...)`. The tags are read from the source with `ast`, so this check
needs no test to run and does not depend on which tests were selected.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from faultkit import ROOT

DOC = ROOT / "docs" / "RELIABILITY.md"
HERE = Path(__file__).resolve().parent
COLUMNS = ["Category", "Case", "What the user sees", "Exit", "What is kept", "Status"]
CATEGORIES = {"config", "images", "labels and splits", "models", "training", "preprocessing", "video"}


def table() -> list[dict[str, str]]:
    """The rows of the cases table (the one whose header starts with `| Category | Case |`)."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if header is None:
            if cells and cells[:2] == ["Category", "Case"]:
                header = cells
            continue
        if cells is None:
            break
        if all(set(c) <= set("-: ") for c in cells):
            continue
        rows.append(dict(zip(header, cells, strict=True)))
    assert header == COLUMNS, f"{DOC}: the cases table needs the columns {COLUMNS}, found {header}"
    return rows


def _called(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _is_xfail(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "xfail" for n in ast.walk(node))


def suite() -> dict[tuple[str, str], dict[str, bool]]:
    """(category, case) -> {test: whether (some of) it is an expected failure} from the tags in the source."""
    found: dict[tuple[str, str], dict[str, bool]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("test_"):
                continue
            whole_xfail = any(_is_xfail(d) and _called(d.func if isinstance(d, ast.Call) else d) == "xfail"
                              for d in fn.decorator_list)
            for decorator in fn.decorator_list:
                for call in ast.walk(decorator):
                    if not (isinstance(call, ast.Call) and _called(call.func) in ("case", "case_param")):
                        continue
                    args = call.args[:2]
                    assert len(args) == 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                                  for a in args), f"{path.name}::{fn.name}: case() needs two strings"
                    key = (args[0].value, args[1].value)
                    xfail = whole_xfail or _is_xfail(call) or (
                        _called(call.func) == "case" and any(_is_xfail(d) for d in fn.decorator_list))
                    test = f"{path.name}::{fn.name}"
                    found.setdefault(key, {})[test] = found.get(key, {}).get(test, False) or xfail
    return found


def test_every_case_in_the_table_has_a_test() -> None:
    tagged = suite()
    missing = [(r["Category"], r["Case"]) for r in table() if (r["Category"], r["Case"]) not in tagged]
    assert not missing, f"rows of {DOC.name} with no test tagged case(category, name): {missing}"


def test_every_tagged_case_is_in_the_table() -> None:
    rows = {(r["Category"], r["Case"]) for r in table()}
    extra = sorted(set(suite()) - rows)
    assert not extra, f"tests tagged with cases that {DOC.name} does not list: {extra}"


def test_the_table_is_complete_and_has_no_duplicates() -> None:
    rows = table()
    keys = [(r["Category"], r["Case"]) for r in rows]
    assert len(keys) == len(set(keys)), "a case is listed twice"
    assert {r["Category"] for r in rows} == CATEGORIES
    for r in rows:
        assert all(r[c] for c in COLUMNS), f"empty cell in {r}"
        assert re.fullmatch(r"(-9 \(killed\), then )?\d+( or \d+)?", r["Exit"]), f"{r['Case']}: exit {r['Exit']}"


def test_the_status_column_says_which_cases_show_a_known_bug() -> None:
    """A case with an expected failure (a tool bug, xfail) says so; one without says it passes."""
    tagged = suite()
    for r in table():
        xfail = any(tagged.get((r["Category"], r["Case"]), {}).values())
        status = r["Status"].lower()
        if xfail:
            assert status.startswith("bug"), f"{r['Case']}: its tests have an xfail, so Status must start 'bug'"
        else:
            assert status == "passes", f"{r['Case']}: no xfail in its tests, so Status must be 'passes'"
