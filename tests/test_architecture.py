"""The layout is a rule, not a habit: these tests fail when a change breaks it.

- Only `server.web` touches Flask: the domain and the CLI import without loading it.
- No import circle anywhere in `server/` (lazy imports inside functions count too).
- SQL lives with the module that owns the tables, not in route handlers.
- No module grows past ~500 lines (a sign it holds more than one concern).
See ARCHITECTURE.md and docs/decisions/0009-layout-web-package-and-flat-core.md.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "server"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SERVER.rglob("*.py")):
        parts = list(path.relative_to(SERVER.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph() -> dict[str, set[str]]:
    """module -> the server modules it imports, at any depth of the file (lazy imports too)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _resolve(name, is_package, node.level, node.module)
                elif node.module and node.module.startswith("server"):
                    base = node.module
                else:
                    continue
                submodules = [f"{base}.{alias.name}" for alias in node.names
                              if f"{base}.{alias.name}" in modules]
                # `from .. import x` loads the package only on the way to x: x is the edge.
                targets += submodules or [base]
            elif isinstance(node, ast.Import):
                targets += [a.name for a in node.names if a.name.startswith("server")]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle_in_server():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "server.web.app" in graph["server"]                   # lazy, inside create_app
    assert "server.push.vapid" in graph["server.datadir"]         # from .push.vapid import …
    assert "server.staff" in graph["server.web.admin"]            # from .. import staff as …


def test_only_the_web_package_loads_flask():
    outside = [name for name in _modules()
               if name != "server.web" and not name.startswith("server.web.")]
    assert "server.cli" in outside and "server.signals" in outside
    script = (
        "import importlib, sys\n"
        f"for name in {outside!r}:\n"
        "    importlib.import_module(name)\n"
        "    loaded = [m for m in ('flask', 'flask_login', 'flask_wtf', 'flask_limiter',"
        " 'werkzeug') if m in sys.modules]\n"
        "    if loaded:\n"
        "        sys.exit(f'{name} loads {loaded}')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=SERVER.parent, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_flask_import_is_inside_the_web_package():
    offenders = []
    for name, path in _modules().items():
        if name == "server.web" or name.startswith("server.web."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(m.split(".")[0] in ("flask", "flask_login", "flask_wtf", "flask_limiter",
                                       "werkzeug") for m in mods):
                offenders.append(name)
    assert offenders == []


_SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b",
                  re.IGNORECASE)
#: The session store owns `web_sessions` and is web glue by nature; /healthz pings the database.
SQL_ALLOWED_IN_WEB = {"server.web.sessions", "server.web.app"}


def test_no_sql_in_route_modules():
    offenders = [name for name, path in _modules().items()
                 if name.startswith("server.web.") and name not in SQL_ALLOWED_IN_WEB
                 and _SQL.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_no_module_is_over_500_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
