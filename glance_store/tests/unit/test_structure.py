# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The structure rules of the package, checked on its source.

* no import cycle between modules of ``glance_store`` (tests excluded);
* outside ``glance_store/_drivers``, no code reads or calls a
  leading-underscore name of another object (tools use the drivers'
  public surface).

Function complexity is checked by ``tox -e pep8`` (flake8's
``max-complexity``).
"""

import ast
import os

from oslotest import base

import glance_store

PACKAGE_DIR = os.path.dirname(os.path.abspath(glance_store.__file__))


def product_modules():
    """{module name: path} of every module of the package but tests."""
    top = os.path.dirname(PACKAGE_DIR)
    modules = {}
    for dirpath, dirnames, filenames in os.walk(PACKAGE_DIR):
        dirnames[:] = [d for d in dirnames
                       if d != 'tests' and not d.startswith('__')]
        for name in filenames:
            if not name.endswith('.py'):
                continue
            path = os.path.join(dirpath, name)
            module = os.path.relpath(path, top)[:-3].replace(os.sep, '.')
            if module.endswith('.__init__'):
                module = module[:-len('.__init__')]
            modules[module] = path
    return modules


def parse(path):
    with open(path) as f:
        return ast.parse(f.read(), path)


def imported_modules(tree, modules):
    """The package's modules that ``tree`` imports at module level."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and \
                node.module:
            for alias in node.names:
                full = '%s.%s' % (node.module, alias.name)
                found.add(full if full in modules else node.module)
    return {m for m in found if m in modules}


def import_graph():
    modules = product_modules()
    return {name: imported_modules(parse(path), modules) - {name}
            for name, path in modules.items()}


def cycles(graph):
    """The strongly connected components of ``graph`` with 2+ nodes."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def is_own(value):
    """``self.x``, ``cls.x`` and ``super().x`` are the object's own."""
    if isinstance(value, ast.Name):
        return value.id in ('self', 'cls')
    return isinstance(value, ast.Call) and \
        isinstance(value.func, ast.Name) and value.func.id == 'super'


def private_reaches(tree):
    """``(line, expression)`` of each foreign private name used."""
    return [(node.lineno, ast.unparse(node)) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and
            node.attr.startswith('_') and not node.attr.startswith('__') and
            not is_own(node.value)]


class StructureTest(base.BaseTestCase):

    def test_cycle_finder_finds_cycles(self):
        graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
        self.assertEqual([['a', 'b', 'c']], cycles(graph))
        self.assertEqual([], cycles({'a': {'b'}, 'b': set()}))

    def test_no_import_cycle(self):
        graph = import_graph()
        self.assertIn('glance_store._drivers.s3', graph)
        self.assertEqual([], cycles(graph))

    def test_private_finder(self):
        tree = ast.parse("self._a\ncls._b\nsuper()._c\nx._d\nx.y._e\n"
                         "x.__class__\n")
        self.assertEqual([(4, 'x._d'), (5, 'x.y._e')],
                         sorted(private_reaches(tree)))

    def test_no_private_names_of_other_objects_outside_drivers(self):
        found = {}
        for name, path in product_modules().items():
            if name.startswith('glance_store._drivers'):
                continue
            reaches = private_reaches(parse(path))
            if reaches:
                found[name] = reaches
        self.assertEqual({}, found)
