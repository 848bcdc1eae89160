#!/usr/bin/env python3
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

"""Compatibility job: other projects' tests run against this library.

Part a: the unit tests of upstream glance_store 5.7.0 for the core API and
the file, http and s3 stores, taken from its PyPI sdist at run time, run
against this checkout's product code (upstream's test helpers are copied
into a temporary test tree, next to symlinks to this checkout's modules).

Part b: the functional tests of Glance 33.0.0, from its PyPI sdist, in a
cached virtualenv where this library is installed over the glance-store
that Glance pulls in (``--store upstream`` keeps upstream 5.7.0 there
instead: that is the baseline the expectations of part b come from).

Part c: Glance 33.0.0's unit tests (glance/tests/unit), in the same
virtualenv.

Parts b and c run the tests in the order stestr gives (the state a test
leaves in the process is the next test's starting point, as in Glance's
own CI). A failure that is not listed is run again with upstream
glance_store in the same conditions: the tests its stestr worker ran
before it, in the same order, then it. It is allowed only when it fails
with upstream there too; passing when run alone does not excuse it.

Nothing downloaded is kept in the repository: the sdists, the extracted
trees and the Glance virtualenv live in the cache directory (.tox by
default). Every test that may fail is listed, with its reason, in
tools/compat/expected-failures.txt; the job fails on any other failure
and on a listed test that passes (the list can only shrink).

Uses the standard library, plus python-subunit and testtools (stestr's
own dependencies) to read the test results.
"""

import argparse
import collections
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HERE = os.path.join(REPO, 'tools', 'compat')
EXPECTATIONS = os.path.join(HERE, 'expected-failures.txt')
DNS_SHIM = os.path.join(HERE, 'localhost_dns')

# name, version, sha256 of the sdist on PyPI
GLANCE_STORE = ('glance-store', '5.7.0',
                '7c7906b01e32264a7fc4ab6e690eaa38'
                '33d3b54cfb0f727e1a069ace7a0fd856')
GLANCE = ('glance', '33.0.0',
          'f6483b580565836e412747ed247703e5'
          '2a96b0cf168c732986ac595377c92678')

# Upstream's unit test modules for the core API and the stores this
# library ships; the swift, rbd, cinder and vmware ones (and common/,
# which only tests cinder and NFS helpers) are left out.
UNIT_MODULES = (
    'test_backend.py',
    'test_backend_group_configuration.py',
    'test_driver.py',
    'test_exceptions.py',
    'test_filesystem_store.py',
    'test_filesystem_store_base.py',
    'test_http_store.py',
    'test_location.py',
    'test_multistore_filesystem.py',
    'test_multistore_s3.py',
    'test_opts.py',
    'test_s3_store.py',
    'test_s3_store_base.py',
    'test_store_base.py',
    'test_store_capabilities.py',
    'test_test_utils.py',
)
# Upstream's test helpers, copied next to the selected modules.
HELPERS = ('__init__.py', 'base.py', 'fakes.py', 'utils.py', 'etc')

# Glance's test requirements that no test imports (linters).
GLANCE_TEST_REQ_SKIP = ('hacking', 'doc8')

FAILED = ('fail', 'uxsuccess')
PASSED = ('success', 'xfail')
# Status of a failure that upstream glance_store also has when its
# worker's tests are run again in the same order.
UPSTREAM_TOO = 'upstream-too'
# Compare with upstream only when the unexpected failures are this few (a
# broken import fails hundreds of tests: the comparison would only cost
# time, and they all count as failures).
COMPARE_MAX = 30


def log(msg):
    print('compat: %s' % msg, flush=True)


def run(cmd, **kwargs):
    """Run a command, echoing it; raise on a non-zero exit."""
    log('$ %s' % ' '.join(cmd))
    return subprocess.run(cmd, check=True, **kwargs)


def clean_env(**extra):
    """The environment for pip and tests: no PBR_VERSION, plus extra.

    Test output and logs are captured (shown for failing tests only), as
    in tox.ini, unless the caller's environment says otherwise.
    """
    env = dict(os.environ)
    env.pop('PBR_VERSION', None)
    env.pop('PYTHONPATH', None)
    for name in ('OS_STDOUT_CAPTURE', 'OS_STDERR_CAPTURE', 'OS_LOG_CAPTURE'):
        env.setdefault(name, '1')
    env.update(extra)
    return env


def sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def download_sdist(cache, spec):
    """Fetch one sdist from PyPI with pip (hash-checked), once.

    :param cache: the cache directory
    :param spec: (name, version, sha256)
    :returns: the path of the extracted source tree
    """
    name, version, digest = spec
    dist = name.replace('-', '_')
    dest = os.path.join(cache, 'sdists')
    os.makedirs(dest, exist_ok=True)
    tarball = None
    for candidate in ('%s-%s.tar.gz' % (dist, version),
                      '%s-%s.tar.gz' % (name, version)):
        path = os.path.join(dest, candidate)
        if os.path.exists(path) and sha256(path) == digest:
            tarball = path
    if tarball is None:
        with tempfile.NamedTemporaryFile('w', suffix='.txt') as req:
            req.write('%s==%s --hash=sha256:%s\n' % (name, version, digest))
            req.flush()
            run([sys.executable, '-m', 'pip', 'download', '--no-deps',
                 '--no-binary', ':all:', '--require-hashes', '-r', req.name,
                 '-d', dest], env=clean_env())
        return download_sdist(cache, spec)
    tree = os.path.join(cache, 'src', '%s-%s' % (dist, version))
    marker = os.path.join(tree, '.compat-sha256')
    if not (os.path.exists(marker) and open(marker).read() == digest):
        shutil.rmtree(tree, ignore_errors=True)
        os.makedirs(os.path.dirname(tree), exist_ok=True)
        with tarfile.open(tarball) as tar:
            top = tar.getnames()[0].split('/')[0]
            tar.extractall(os.path.dirname(tree), filter='data')
        extracted = os.path.join(os.path.dirname(tree), top)
        if extracted != tree:
            os.rename(extracted, tree)
        with open(marker, 'w') as f:
            f.write(digest)
    return tree


def read_results(subunit_bytes, order=None):
    """Test id -> status ('success', 'fail', 'skip', ...) of one run.

    :param subunit_bytes: a subunit v2 stream
    :param order: a dict to fill with test id -> (worker tag, start time),
        the order each stestr worker ran its tests in
    """
    import subunit
    import testtools

    results = {}

    def on_test(test):
        if test['status'] == 'exists':
            return
        results[test['id']] = test['status']
        if order is not None:
            workers = sorted(t for t in test['tags']
                             if t.startswith('worker-'))
            start = test['timestamps'][0]
            order[test['id']] = (workers[0] if workers else 'worker-0',
                                 start.timestamp() if start else 0.0)

    stream = subunit.ByteStreamToStreamResult(
        _BytesReader(subunit_bytes), non_subunit_name='stdout')
    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()
    return results


class _BytesReader(object):
    """A file-like object over bytes, as subunit's parser wants."""

    def __init__(self, data):
        import io
        self._buf = io.BytesIO(data)

    def read(self, n=-1):
        return self._buf.read(n)

    def read1(self, n=-1):
        return self._buf.read1(n)

    def readline(self):
        return self._buf.readline()


def stestr(python_bin_dir, cwd, test_path, env, concurrency, filters,
           order=None):
    """Run stestr in cwd; return its results (id -> status).

    :param order: a dict to fill with each test's worker and start time
    """
    exe = os.path.join(python_bin_dir, 'stestr')
    cmd = [exe, '--test-path', test_path, '--top-dir', './', 'run',
           '--concurrency', str(concurrency)] + list(filters)
    log('$ (cd %s) %s' % (cwd, ' '.join(cmd)))
    # stestr exits 1 when a test fails: the expectations decide.
    subprocess.run(cmd, cwd=cwd, env=env)
    return _last_results(exe, cwd, env, order)


def stestr_in_order(python_bin_dir, cwd, test_path, env, test_ids):
    """Run ``test_ids`` in one process, in stestr's order; return results.

    The tests of one stestr worker run in discovery order, filtered by
    the worker's list: a serial run of the same list repeats it.
    """
    exe = os.path.join(python_bin_dir, 'stestr')
    with tempfile.NamedTemporaryFile('w', suffix='.txt') as load_list:
        load_list.write('\n'.join(test_ids) + '\n')
        load_list.flush()
        cmd = [exe, '--test-path', test_path, '--top-dir', './', 'run',
               '--serial', '--load-list', load_list.name]
        log('$ (cd %s) %s  (%d tests)' % (cwd, ' '.join(cmd), len(test_ids)))
        subprocess.run(cmd, cwd=cwd, env=env)
    return _last_results(exe, cwd, env)


def _last_results(exe, cwd, env, order=None):
    last = subprocess.run([exe, 'last', '--subunit'], cwd=cwd, env=env,
                          stdout=subprocess.PIPE)
    return read_results(last.stdout, order)


def same_order_prefixes(order, failures):
    """For each worker with a failure: its tests up to its last failure.

    :param order: test id -> (worker, start time)
    :param failures: the failed test ids
    :returns: a list of test id lists, each in the order it ran
    """
    by_worker = collections.defaultdict(list)
    for test_id, (worker, start) in order.items():
        by_worker[worker].append((start, test_id))
    prefixes = []
    for worker in sorted(by_worker):
        ran = [t for _start, t in sorted(by_worker[worker])]
        last = max((i for i, t in enumerate(ran) if t in failures),
                   default=None)
        if last is not None:
            prefixes.append(ran[:last + 1])
    return prefixes


# --------------------------------------------------------------- part a

def build_unit_tree(upstream_src, tree):
    """This checkout's product modules plus upstream's unit tests.

    :param upstream_src: the extracted glance_store 5.7.0 sdist
    :param tree: an empty directory to build the test tree in
    """
    pkg = os.path.join(tree, 'glance_store')
    os.makedirs(pkg)
    ours = os.path.join(REPO, 'glance_store')
    for entry in sorted(os.listdir(ours)):
        if entry in ('tests', '__pycache__'):
            continue
        os.symlink(os.path.join(ours, entry), os.path.join(pkg, entry))
    up_tests = os.path.join(upstream_src, 'glance_store', 'tests')
    tests = os.path.join(pkg, 'tests')
    os.makedirs(os.path.join(tests, 'unit'))
    for helper in HELPERS:
        src = os.path.join(up_tests, helper)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(tests, helper))
        else:
            shutil.copy(src, os.path.join(tests, helper))
    shutil.copy(os.path.join(up_tests, 'unit', '__init__.py'),
                os.path.join(tests, 'unit', '__init__.py'))
    for module in UNIT_MODULES:
        shutil.copy(os.path.join(up_tests, 'unit', module),
                    os.path.join(tests, 'unit', module))
    left_out = sorted(
        set(os.listdir(os.path.join(up_tests, 'unit'))) -
        set(UNIT_MODULES) - {'__init__.py', '__pycache__'})
    log('upstream unit modules left out (stores not shipped): %s'
        % ', '.join(left_out))


def check_unit_imports(tree, env):
    """The test tree imports this checkout's code and upstream's helpers."""
    probe = (
        'import os, glance_store, glance_store._drivers.s3 as s3, '
        'glance_store.tests.base as b\n'
        'print(os.path.realpath(glance_store.__file__))\n'
        'print(os.path.realpath(s3.__file__))\n'
        'print(os.path.realpath(b.__file__))\n')
    out = subprocess.run([sys.executable, '-c', probe], cwd=tree, env=env,
                         check=True, stdout=subprocess.PIPE, text=True)
    init, s3, base = out.stdout.split()
    ours = os.path.realpath(os.path.join(REPO, 'glance_store'))
    if not (init.startswith(ours + os.sep) and s3.startswith(ours + os.sep)):
        raise SystemExit('compat: part a imports glance_store from %s, '
                         'not from this checkout (%s)' % (init, ours))
    if not base.startswith(os.path.realpath(tree) + os.sep):
        raise SystemExit('compat: part a imports test helpers from %s'
                         % base)
    log('part a: product code from %s, upstream helpers from %s'
        % (os.path.dirname(init), os.path.dirname(base)))


def part_a(args, expected):
    upstream = download_sdist(args.cache, GLANCE_STORE)
    tmp = tempfile.mkdtemp(prefix='compat-unit-')
    try:
        tree = os.path.join(tmp, 'tree')
        if args.keep_tree:
            shutil.rmtree(args.keep_tree, ignore_errors=True)
            tree = os.path.abspath(args.keep_tree)
        build_unit_tree(upstream, tree)
        env = clean_env(PYTHONPATH=tree)
        check_unit_imports(tree, env)
        return stestr(os.path.dirname(sys.executable), tree,
                      './glance_store/tests/unit', env, args.concurrency,
                      args.filter_a)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------- part b

def glance_venv(cache, glance_src):
    """A virtualenv with Glance 33 and its test requirements, cached."""
    venv = os.path.join(cache, 'glance-venv')
    bindir = os.path.join(venv, 'bin')
    marker = os.path.join(venv, '.compat-ready')
    key = GLANCE[2]
    if os.path.exists(marker) and open(marker).read() == key:
        return bindir
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, '-m', 'venv', venv])
    req = os.path.join(cache, 'glance-test-requirements.txt')
    with open(os.path.join(glance_src, 'test-requirements.txt')) as src, \
            open(req, 'w') as dst:
        for line in src:
            name = re.split(r'[<>=!;\s#\[]', line.strip(), maxsplit=1)[0]
            if name.lower() not in GLANCE_TEST_REQ_SKIP:
                dst.write(line)
    run([os.path.join(bindir, 'pip'), 'install', '-q', glance_src,
         '-r', req], env=clean_env())
    with open(marker, 'w') as f:
        f.write(key)
    return bindir


def product_digests(pkg_dir):
    """Relative path -> sha256 of every product .py file of a package."""
    digests = {}
    for root, dirs, files in os.walk(pkg_dir):
        rel_root = os.path.relpath(root, pkg_dir)
        if rel_root.split(os.sep)[0] == 'tests':
            continue
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(root, name)
                digests[os.path.normpath(os.path.join(rel_root, name))] = \
                    sha256(path)
    return digests


def install_store(bindir, which):
    """Put the store under test into the Glance venv and check it.

    :param bindir: the venv's bin directory
    :param which: 'local' (this checkout) or 'upstream' (5.7.0)
    """
    pip = os.path.join(bindir, 'pip')
    if which == 'local':
        target = REPO
        env = clean_env()
    else:
        target = '%s==%s' % GLANCE_STORE[:2]
        env = clean_env()
    run([pip, 'install', '-q', '--no-deps', '--force-reinstall', target],
        env=env)
    probe = ('import os, glance_store; '
             'from importlib import metadata; '
             'print(os.path.dirname(os.path.realpath(glance_store.__file__)));'
             ' print(metadata.version("glance_store"))')
    out = subprocess.run([os.path.join(bindir, 'python'), '-c', probe],
                         cwd='/', env=clean_env(), check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    pkg_dir, version = out
    if which == 'local':
        mine = product_digests(os.path.join(REPO, 'glance_store'))
        theirs = product_digests(pkg_dir)
        if mine != theirs:
            diff = sorted(set(mine.items()) ^ set(theirs.items()))
            raise SystemExit('compat: the glance_store Glance imports (%s) '
                             'is not this checkout: %s' % (pkg_dir, diff[:5]))
        log('part b: Glance imports this library (%s, %d product files '
            'identical to the checkout, version %s)'
            % (pkg_dir, len(mine), version))
    else:
        if version != GLANCE_STORE[1]:
            raise SystemExit('compat: expected upstream glance_store %s, '
                             'found %s' % (GLANCE_STORE[1], version))
        log('part b: Glance imports upstream glance_store %s (%s)'
            % (version, pkg_dir))


GLANCE_PARTS = {
    'b': ('./glance/tests/functional', 'filter_b'),
    'c': ('./glance/tests/unit', 'filter_c'),
}


def glance_parts(args, expected, parts):
    """Parts b and c: Glance's tests against the store chosen.

    :param args: the command line
    :param expected: {'b': {id: reason}, 'c': {...}}
    :param parts: the parts to run ('b', 'c' or both)
    :returns: {part: results}
    """
    glance_src = download_sdist(args.cache, GLANCE)
    bindir = glance_venv(args.cache, glance_src)
    install_store(bindir, args.store)
    env = clean_env(
        PYTHONPATH=DNS_SHIM,
        OS_TEST_DBAPI_ADMIN_CONNECTION=(
            'sqlite:////tmp/placeholder-never-created-nor-used.db'),
        PATH=bindir + os.pathsep + os.environ.get('PATH', ''))
    results, to_compare = {}, {}
    for part in parts:
        test_path, filter_name = GLANCE_PARTS[part]
        order = {}
        results[part] = stestr(bindir, glance_src, test_path, env,
                               args.concurrency, getattr(args, filter_name),
                               order)
        failed = {t for t, status in results[part].items()
                  if status in FAILED and t not in expected[part]}
        if failed:
            to_compare[part] = (test_path, failed,
                                same_order_prefixes(order, failed))
    if args.store == 'local' and to_compare:
        compare_with_upstream(bindir, glance_src, env, results, to_compare)
    return results


def compare_with_upstream(bindir, glance_src, env, results, to_compare):
    """Run each failure again with upstream, after the same tests.

    A failure that upstream has too gets the status UPSTREAM_TOO; the
    others stay failures. Many failures (a broken import) are not
    compared.
    """
    total = sum(len(failed) for _p, failed, _o in to_compare.values())
    if total > COMPARE_MAX:
        log('%d unexpected failures: not compared with upstream' % total)
        return
    install_store(bindir, 'upstream')
    try:
        for part, (test_path, failed, prefixes) in sorted(
                to_compare.items()):
            log('part %s: %d unexpected failure(s), run again with upstream '
                'after the same tests in the same order' % (part, len(failed)))
            for prefix in prefixes:
                upstream = stestr_in_order(bindir, glance_src, test_path,
                                           env, prefix)
                for test_id in failed.intersection(prefix):
                    if upstream.get(test_id) in FAILED:
                        results[part][test_id] = UPSTREAM_TOO
    finally:
        install_store(bindir, 'local')


# --------------------------------------------------------- expectations

def load_expectations(path):
    """Parse the expectations file.

    Format: a ``[reasons]`` section of ``key: description`` lines, then
    ``[a]``, ``[b]`` and ``[c]`` sections of ``test.id  reason-key
    explanation`` lines; ``#`` starts a comment line.

    :returns: (reasons, {'a': {id: key}, 'b': {id: key}, 'c': ...})
    """
    reasons = {}
    parts = {'a': {}, 'b': {}, 'c': {}}
    section = None
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith('#'):
                continue
            match = re.fullmatch(r'\[(\w+)\]', line)
            if match:
                section = match.group(1)
                continue
            if section == 'reasons':
                key, _, text = line.partition(':')
                reasons[key.strip()] = text.strip()
            elif section in parts:
                fields = line.split(None, 2)
                if len(fields) < 3:
                    raise SystemExit('%s:%d: want "test.id reason text"'
                                     % (path, lineno))
                parts[section][fields[0]] = fields[1]
            else:
                raise SystemExit('%s:%d: outside a section' % (path, lineno))
    for part in parts.values():
        for test_id, key in part.items():
            if key not in reasons:
                raise SystemExit('%s: %s: unknown reason %s'
                                 % (path, test_id, key))
    return reasons, parts


def classify(results, expected):
    """Sort the results of one part.

    :param results: test id -> status
    :param expected: test id -> reason key of the listed failures
    :returns: a dict of counts ('run', 'passed', 'skipped') and lists
        ('expected', 'upstream_too', 'unexpected_fail', 'unexpected_pass')
    """
    sorted_ = {'run': 0, 'passed': 0, 'skipped': 0, 'expected': [],
               'upstream_too': [], 'unexpected_fail': [],
               'unexpected_pass': []}
    for test_id, status in sorted(results.items()):
        sorted_['run'] += 1
        if status == 'skip':
            sorted_['skipped'] += 1
        elif status in PASSED:
            sorted_['passed'] += 1
            if test_id in expected:
                sorted_['unexpected_pass'].append(test_id)
        elif test_id in expected:
            sorted_['expected'].append(test_id)
        elif status == UPSTREAM_TOO:
            sorted_['upstream_too'].append(test_id)
        else:
            sorted_['unexpected_fail'].append(test_id)
    return sorted_


# The tests named under a part's counts, by kind.
DETAIL_LINES = (
    ('upstream_too', '  fails with upstream too, in the same order: %s'),
    ('unexpected_fail', '  UNEXPECTED FAILURE: %s'),
    ('unexpected_pass', '  UNEXPECTED PASS (remove it from %s): %%s'
     % os.path.relpath(EXPECTATIONS, REPO)),
    ('missing', '  LISTED BUT NOT RUN (renamed or removed?): %s'),
)


def judge(name, results, expected, reasons, filtered):
    """Print the counts of one part; return True when it passes.

    :param name: the part's title
    :param results: test id -> status
    :param expected: test id -> reason key of the listed failures
    :param reasons: reason key -> description
    :param filtered: whether a test filter was given (then listed tests
        that did not run are not reported)
    :returns: whether the part passes
    """
    got = classify(results, expected)
    not_run = set(expected) - set(results)
    got['missing'] = [] if filtered else sorted(not_run)
    by_reason = collections.Counter(expected[t] for t in got['expected'])
    print('compat part %s: run %d, passed %d, skipped %d, expected '
          'failures %d, failures upstream has too in the same order %d, '
          'unexpected failures %d, unexpected passes %d'
          % (name, got['run'], got['passed'], got['skipped'],
             len(got['expected']), len(got['upstream_too']),
             len(got['unexpected_fail']), len(got['unexpected_pass'])))
    for key, number in sorted(by_reason.items()):
        print('  expected failure, %s: %d (%s)' % (key, number, reasons[key]))
    for key, fmt in DETAIL_LINES:
        for test_id in got[key]:
            print(fmt % test_id)
    return (got['run'] > 0 and not got['unexpected_fail'] and
            not got['unexpected_pass'] and not got['missing'])


PART_TITLES = {
    'a': 'a (upstream glance_store 5.7.0 unit tests)',
    'b': 'b (Glance 33.0.0 functional tests, store=%s)',
    'c': 'c (Glance 33.0.0 unit tests, store=%s)',
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--part', choices=('a', 'b', 'c', 'all'),
                        default=[], action='append',
                        help='the part to run (repeatable; default all)')
    parser.add_argument('--store', choices=('local', 'upstream'),
                        default='local',
                        help='parts b and c: the glance_store Glance runs '
                             'on (upstream = the 5.7.0 baseline)')
    parser.add_argument('--cache', default=os.path.join(REPO, '.tox',
                                                        'compat-cache'),
                        help='where the sdists and the Glance venv are kept')
    parser.add_argument('--concurrency', type=int, default=2)
    parser.add_argument('--keep-tree', metavar='DIR',
                        help='part a: build the test tree in DIR and keep '
                             'it (to rerun or debug a test there)')
    for part in 'abc':
        parser.add_argument('--filter-%s' % part, action='append',
                            default=[],
                            help='a test regex for part %s (repeatable)'
                                 % part)
    args = parser.parse_args(argv)
    args.cache = os.path.abspath(args.cache)
    chosen = args.part or ['all']
    args.parts = 'abc' if 'all' in chosen else ''.join(sorted(set(chosen)))
    return args


def main(argv=None):
    args = parse_args(argv)
    reasons, expected = load_expectations(EXPECTATIONS)
    results = {}
    if 'a' in args.parts:
        results['a'] = part_a(args, expected['a'])
    glance = ''.join(p for p in args.parts if p in GLANCE_PARTS)
    if glance:
        results.update(glance_parts(args, expected, glance))
    ok = True
    for part in sorted(results):
        title = PART_TITLES[part].replace('%s', args.store)
        ok = judge(title, results[part], expected[part], reasons,
                   bool(getattr(args, 'filter_' + part))) and ok
    print('compat: %s' % ('ok' if ok else 'FAILED'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
