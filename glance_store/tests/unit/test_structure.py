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
* no product code (the drivers included: one ``_drivers`` module does
  not reach into another's objects either) reads or calls a
  leading-underscore name of another object (tools use the drivers'
  public surface);
* no function of ``glance_store/`` (tests included) or ``tools/`` is
  above cyclomatic complexity 12 as radon counts it (boolean operators
  included, unlike flake8's ``max-complexity``).
"""

import ast
import os

import fixtures
from oslotest import base
from radon import complexity

import glance_store

PACKAGE_DIR = os.path.dirname(os.path.abspath(glance_store.__file__))
REPO_DIR = os.path.dirname(PACKAGE_DIR)
MAX_COMPLEXITY = 12


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


def python_files(*tops):
    """Every ``.py`` file under the given directories."""
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith('.')]
            for name in sorted(filenames):
                if name.endswith('.py'):
                    yield os.path.join(dirpath, name)


def too_complex(path, limit=MAX_COMPLEXITY):
    """``(function name, complexity)`` of each block above ``limit``."""
    with open(path) as f:
        blocks = complexity.cc_visit(f.read())
    found = {}
    while blocks:
        block = blocks.pop(0)
        blocks.extend(getattr(block, 'closures', ()))
        # radon lists methods on their own too; a class's own figure is
        # the sum of its methods': only functions count.
        if not hasattr(block, 'methods') and block.complexity > limit:
            found[block.name, block.lineno] = block.complexity
    return [(name, value) for (name, _line), value in sorted(
        found.items(), key=lambda item: item[0][1])]


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

    def test_no_private_names_of_other_objects(self):
        found = {}
        modules = product_modules()
        self.assertIn('glance_store._drivers.s3_leftovers', modules)
        for name, path in modules.items():
            reaches = private_reaches(parse(path))
            if reaches:
                found[name] = reaches
        self.assertEqual({}, found)

    def test_complexity_finder(self):
        path = os.path.join(self.useFixture(
            fixtures.TempDir()).path, 'm.py')
        with open(path, 'w') as f:
            f.write('def f(a, b, c):\n'
                    '    if a and b and c:\n'
                    '        return 1\n'
                    '    return 0\n\n\n'
                    'class K(object):\n'
                    '    def g(self, x):\n'
                    '        return 1 if x or self else 2\n')
        # if (+1) with two "and" (+2), on 1: 4; the method: 1 + 1 + 1.
        self.assertEqual([('f', 4)], too_complex(path, limit=3))
        self.assertEqual([('f', 4), ('g', 3)], too_complex(path, limit=2))

    def test_no_function_above_complexity_12(self):
        found = {}
        files = list(python_files(PACKAGE_DIR,
                                  os.path.join(REPO_DIR, 'tools')))
        self.assertIn(os.path.join(PACKAGE_DIR, '_drivers', 's3.py'), files)
        for path in files:
            over = too_complex(path)
            if over:
                found[os.path.relpath(path, REPO_DIR)] = over
        self.assertEqual({}, found)
