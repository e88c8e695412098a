"""No import cycle between the modules of ``cmd_plugin``.

Reads the ``import`` statements of every module (all of them, also those
inside functions, which is how a cycle usually hides) with :mod:`ast`,
builds the graph of which module imports which and asserts that it has no
cycle. An edge goes to the module named: ``from .utils import x`` imports
``cmd_plugin.utils`` (its ``__init__``), ``from . import utils`` and
``from .utils.validation import x`` import those modules. Parent packages
that Python runs on the way are not edges (``import cmd_plugin.a.b`` would
otherwise make every module depend on ``cmd_plugin/__init__.py``, which
imports all of them).

The floors, lowest first (docs/design.md, Layout): ``utils`` and
``structures``; the components (``models``, ``datasets``, ``engine``, ``evaluation``,
``visualization``); ``apis`` (the public API, config checks and the
preflight, which import the components they build or check); ``study``
and ``demo`` (which run through ``apis``); the package itself.
"""
import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

PACKAGE = 'cmd_plugin'
ROOT = Path(__file__).resolve().parents[1]


def module_names(root: Path = ROOT) -> Dict[str, Path]:
    """Every module of the package by dotted name (packages by their name)."""
    names = {}
    for path in sorted((root / PACKAGE).rglob('*.py')):
        parts = list(path.relative_to(root).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts.pop()
        names['.'.join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: Set[str]) -> Set[str]:
    """The plugin modules that module ``name`` (file ``path``) imports."""
    is_package = path.name == '__init__.py'
    package = name if is_package else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                source = '.'.join(base + ([node.module]
                                          if node.module else []))
            else:
                source = node.module or ''
            # ``from x import y``: y is a submodule, or a name in x
            targets = [
                f'{source}.{alias.name}'
                if f'{source}.{alias.name}' in modules else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # ``import cmd_plugin.a.b`` names b; keep the longest known name
            while target and target not in modules:
                target = target.rpartition('.')[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = ROOT) -> Dict[str, Set[str]]:
    """``module -> modules it imports``, over the plugin's modules."""
    paths = module_names(root)
    return {
        name: imports_of(name, path, set(paths))
        for name, path in paths.items()
    }


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One cycle ``[a, b, ..., a]`` of ``graph``, or None if it has none."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_reports_the_cycle():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert find_cycle(graph) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set(), 'c': {'a', 'b'}}) is None


def test_relative_imports_resolve_to_modules():
    graph = import_graph()
    assert f'{PACKAGE}.datasets' in graph[PACKAGE]  # from . import datasets
    assert f'{PACKAGE}.utils.validation' in \
        graph[f'{PACKAGE}.models.necks.mil_neck']


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


def test_utils_and_structures_are_the_lowest_floor():
    graph = import_graph()
    lowest = (f'{PACKAGE}.utils', f'{PACKAGE}.structures')
    upward = {
        f'{name} -> {target}'
        for name, targets in graph.items()
        if name.startswith(lowest) for target in targets
        if not target.startswith(lowest)
    }
    above_apis = (f'{PACKAGE}.apis', f'{PACKAGE}.study', f'{PACKAGE}.demo')
    upward |= {
        f'{name} -> {target}'
        for name, targets in graph.items()
        if not name.startswith(above_apis) for target in targets
        if target.startswith(f'{PACKAGE}.apis')
    }
    assert not upward, 'imports against the floors: ' + ', '.join(
        sorted(upward))
