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

"""tools/glance_wsgi.py: configuration, the library check, start/stop.

Start and stop run against stand-ins for ``uwsgi`` and ``glance-manage``
beside a stand-in interpreter (the launcher looks for scripts next to
``--python``): the stand-in uwsgi reads the ini the launcher wrote,
imports its modules as uWSGI would and answers ``/versions``. The real
Glance runs in ``tox -e functional-glance``.
"""

import configparser
import json
import os
import stat
import sys

import fixtures
from oslotest import base

import glance_store
from glance_store.tests.unit import tools  # noqa: F401  (sys.path)

import glance_wsgi  # noqa: E402,I100  (tools/glance_wsgi.py)
import procs  # noqa: E402  (tools/procs.py)

FAKE_UWSGI = r'''#!%(python)s
import configparser, http.server, importlib, os, signal, sys
# uWSGI sets its own SIGINT handler; a Python started from a shell job
# without job control would inherit SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
ini = configparser.ConfigParser(strict=False, interpolation=None)
# uWSGI ini files repeat keys (env, import): keep the last one of each.
ini.read(sys.argv[2])
opts = ini['uwsgi']
if os.environ.get('GS_FAKE_UWSGI_FAIL'):
    print('no app could be loaded', flush=True)
    sys.exit(1)
sys.path.insert(0, opts['pythonpath'])
for line in open(sys.argv[2]):
    if line.startswith('import = '):
        importlib.import_module(line.split('=', 1)[1].strip())
port = int(opts['http-socket'].rsplit(':', 1)[1])


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == '/versions' else 404)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *a):
        pass


print('fake uwsgi on', port, flush=True)
http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
'''

FAKE_MANAGE = r'''#!/bin/sh
echo "glance-manage $*"
'''


def _script(path, text):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, stat.S_IRWXU)


class TestConfiguration(base.BaseTestCase):

    def setUp(self):
        super(TestConfiguration, self).setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def _ini(self, path):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path)
        return parser

    def test_uwsgi_options(self):
        options = glance_wsgi.uwsgi_options(
            'glance.wsgi.api:application', 8123, '/etc/x',
            env={'OS_GLANCE_CONFIG_DIR': '/etc/x'}, imports=('a', 'b'),
            threads=7, processes=2, virtualenv='/venv')
        as_dict = dict(options)
        self.assertEqual('127.0.0.1:8123', as_dict['http-socket'])
        # Glance streams chunked uploads of unknown size to the store.
        self.assertEqual('true', as_dict['http-chunked-input'])
        self.assertEqual('7', as_dict['threads'])
        self.assertEqual('2', as_dict['processes'])
        self.assertEqual('/venv', as_dict['virtualenv'])
        self.assertEqual('Connection: close', as_dict['add-header'])
        self.assertIn(('env', 'OS_GLANCE_CONFIG_DIR=/etc/x'), options)
        self.assertEqual([('import', 'a'), ('import', 'b')],
                         [o for o in options if o[0] == 'import'])
        self.assertNotIn('virtualenv', dict(glance_wsgi.uwsgi_options(
            'm:app', 1, '/d')))

    def test_noauth_config(self):
        server = glance_wsgi.GlanceWsgi(
            self.tmp, {'DEFAULT': {'image_size_cap': 5},
                       'glance_store': {'filesystem_store_datadir':
                                        os.path.join(self.tmp, 'images')}},
            port=8124)
        server.write_config()
        conf = self._ini(server.conf_path)
        self.assertEqual('5', conf['DEFAULT']['image_size_cap'])
        self.assertEqual('true', conf['DEFAULT']['debug'])
        self.assertEqual('noauth', conf['paste_deploy']['flavor'])
        self.assertEqual(server.paste_path,
                         conf['paste_deploy']['config_file'])
        self.assertEqual('sqlite:///%s?timeout=60' % server.db_path,
                         conf['database']['connection'])
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, 'images')))
        self.assertTrue(os.path.isdir(conf['oslo_concurrency']['lock_path']))
        paste = self._ini(server.paste_path)
        pipeline = paste['composite:api']['noauth']
        self.assertNotIn('authtoken', pipeline)
        self.assertIn('context', pipeline)
        self.assertEqual('glance.api.middleware.context:ContextMiddleware.'
                         'factory',
                         paste['filter:context']['paste.filter_factory'])
        self.assertTrue(os.path.exists(os.path.join(
            server.confdir, glance_wsgi.PROBE_MODULE + '.py')))
        self.assertEqual('http://127.0.0.1:8124', server.url)

    def test_caller_sections_win(self):
        server = glance_wsgi.GlanceWsgi(
            self.tmp, {'DEFAULT': {'debug': False}}, port=1)
        self.assertFalse(server.conf_sections()['DEFAULT']['debug'])
        self.assertTrue(server.conf_sections()['DEFAULT']['use_stderr'])

    def test_keystone_paste_is_glance_stock_file(self):
        prefix = os.path.join(self.tmp, 'venv')
        os.makedirs(os.path.join(prefix, 'etc', 'glance'))
        with open(os.path.join(prefix, 'etc', 'glance',
                               'glance-api-paste.ini'), 'w') as f:
            f.write('[composite:glance-api-keystone]\n')
        server = glance_wsgi.GlanceWsgi(
            os.path.join(self.tmp, 'w'), auth='keystone', port=1)
        self.useFixture(fixtures.MockPatchObject(
            server, 'prefixes', return_value=(prefix, '/usr')))
        server.write_config()
        with open(server.paste_path) as f:
            self.assertEqual('[composite:glance-api-keystone]\n', f.read())
        self.assertEqual('keystone',
                         self._ini(server.conf_path)['paste_deploy'][
                             'flavor'])
        options = dict(server_options(server))
        self.assertEqual(prefix, options['virtualenv'])

    def test_keystone_without_glance_installed(self):
        server = glance_wsgi.GlanceWsgi(self.tmp, auth='keystone', port=1)
        self.useFixture(fixtures.MockPatchObject(
            server, 'prefixes', return_value=(self.tmp, self.tmp)))
        e = self.assertRaises(glance_wsgi.LauncherError, server.write_config)
        self.assertIn('glance-api-paste.ini not found', str(e))

    def test_unknown_auth(self):
        self.assertRaises(ValueError, glance_wsgi.GlanceWsgi, self.tmp,
                          auth='basic')

    def test_python_prefixes_of_another_interpreter(self):
        # Through a subprocess, as for another virtualenv's python.
        link = os.path.join(self.tmp, 'python3')
        os.symlink(sys.executable, link)
        prefix, base_prefix = glance_wsgi.python_prefixes(link)
        self.assertTrue(os.path.isdir(prefix), prefix)
        self.assertTrue(os.path.isdir(base_prefix), base_prefix)
        self.assertRaises(glance_wsgi.LauncherError,
                          glance_wsgi.python_prefixes,
                          os.path.join(self.tmp, 'missing-python'))


def server_options(server):
    return glance_wsgi.uwsgi_options(
        glance_wsgi.APP_MODULE, server.port, server.confdir,
        virtualenv=(server.prefixes()[0]
                    if server.prefixes()[0] != server.prefixes()[1]
                    else None))


class TestS3StoreOptions(base.BaseTestCase):

    SERVER = {'access_key': 'AK', 'secret_key': 'SK', 'region': None}

    def test_plain_endpoint(self):
        options = glance_wsgi.s3_store_options(self.SERVER, 'b',
                                               'http://127.0.0.1:1')
        self.assertEqual({
            's3_store_host': 'http://127.0.0.1:1',
            's3_store_access_key': 'AK',
            's3_store_secret_key': 'SK',
            's3_store_region_name': 'us-east-1',
            's3_store_bucket': 'b',
            's3_store_bucket_url_format': 'path',
            's3_store_create_bucket_on_put': False}, options)

    def test_cacert_and_extra(self):
        server = dict(self.SERVER, region='eu-1')
        options = glance_wsgi.s3_store_options(
            server, 'b', 'https://127.0.0.1:2', '/ca.pem',
            s3_store_large_object_size=5, s3_store_bucket='other')
        self.assertEqual('/ca.pem', options['s3_store_cacert'])
        self.assertEqual('eu-1', options['s3_store_region_name'])
        self.assertEqual(5, options['s3_store_large_object_size'])
        self.assertEqual('other', options['s3_store_bucket'])


class TestCheckLibrary(base.BaseTestCase):

    def setUp(self):
        super(TestCheckLibrary, self).setUp()
        self.site = self.useFixture(fixtures.TempDir()).path
        self.probe = {'file': os.path.join(self.site, 'glance_store',
                                           '__init__.py'),
                      'version': '5.7.1', 'marker': True,
                      'prefix': '/venv', 'site_dirs': [self.site]}

    def test_this_project_installed(self):
        glance_wsgi.check_library(self.probe)

    def test_without_the_marker(self):
        self.probe['marker'] = False
        e = self.assertRaises(glance_wsgi.LauncherError,
                              glance_wsgi.check_library, self.probe)
        self.assertIn(glance_wsgi.MARKER, str(e))
        self.assertIn(os.path.join(self.site, 'glance_store'), str(e))
        glance_wsgi.check_library(self.probe, expect_ours=False)

    def test_from_a_source_tree(self):
        self.probe['file'] = '/src/glance_store/__init__.py'
        e = self.assertRaises(glance_wsgi.LauncherError,
                              glance_wsgi.check_library, self.probe)
        self.assertIn('not from the site-packages of /venv', str(e))

    def test_the_probe_sees_this_library(self):
        # The probe module, run as uWSGI would import it.
        self.assertIs(True, glance_store.IS_S3_CHECKSUM_DROPIN)
        self.assertEqual('IS_S3_CHECKSUM_DROPIN', glance_wsgi.MARKER)
        path = os.path.join(self.site, 'glance_store_probe.py')
        exec(compile(glance_wsgi.PROBE_SOURCE, path, 'exec'),
             {'__file__': path, '__name__': 'glance_store_probe'})
        with open(os.path.join(self.site, 'glance_store_probe.json')) as f:
            probe = json.load(f)
        self.assertTrue(probe['marker'])
        self.assertEqual(glance_store.__file__, probe['file'])
        self.assertEqual(sys.prefix, probe['prefix'])


class TestStartStop(base.BaseTestCase):

    def setUp(self):
        super(TestStartStop, self).setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        bindir = os.path.join(self.tmp, 'bin')
        os.makedirs(bindir)
        self.python = os.path.join(bindir, 'python')
        os.symlink(sys.executable, self.python)
        _script(os.path.join(bindir, 'uwsgi'),
                FAKE_UWSGI % {'python': sys.executable})
        _script(os.path.join(bindir, 'glance-manage'), FAKE_MANAGE)
        self.workdir = os.path.join(self.tmp, 'w')
        # The stand-in imports the sqlite module the launcher writes.
        sqlalchemy = os.path.join(self.tmp, 'fake-modules', 'sqlalchemy')
        os.makedirs(os.path.join(sqlalchemy))
        with open(os.path.join(sqlalchemy, '__init__.py'), 'w') as f:
            f.write('')
        with open(os.path.join(sqlalchemy, 'event.py'), 'w') as f:
            f.write('def listens_for(*a, **k):\n    return lambda f: f\n')
        with open(os.path.join(sqlalchemy, 'engine.py'), 'w') as f:
            f.write('Engine = object\n')
        self.useFixture(fixtures.EnvironmentVariable(
            'GS_TEST_FAKE_MODULES', os.path.dirname(sqlalchemy)))

    def _server(self):
        server = glance_wsgi.GlanceWsgi(self.workdir, {}, python=self.python)
        self.addCleanup(server.stop)
        return server

    def test_start_and_stop(self):
        server = self._server()
        os.makedirs(self.workdir)
        server.prepare()
        with open(server.setup_log) as f:
            self.assertIn('glance-manage --config-file %s db_sync'
                          % server.conf_path, f.read())
        self.useFixture(fixtures.MockPatchObject(
            server, 'server_env', return_value=dict(
                os.environ, PYTHONPATH=os.environ['GS_TEST_FAKE_MODULES'])))
        self.assertEqual(server.url, server.start(timeout=60))
        pid, started = server.pid, server.start_time
        self.assertTrue(procs.alive(pid, started))
        # What the server imported (from the source tree here, which
        # check_library refuses: see TestCheckLibrary).
        probe = server.probe()
        self.assertEqual(glance_store.__file__, probe['file'])
        self.assertTrue(probe['marker'])
        with open(server.state_path) as f:
            state = json.load(f)
        self.assertEqual((pid, started, server.url),
                         (state['pid'], state['start_time'], state['url']))
        self.assertEqual([procs.Stopped(pid, False)], server.stop())
        self.assertFalse(procs.alive(pid, started))
        self.assertEqual([], server.stop())

    def test_exit_while_starting_is_reported_with_the_log(self):
        server = self._server()
        os.makedirs(self.workdir)
        server.prepare()
        # As uWSGI with need-app exits when Glance cannot be loaded.
        self.useFixture(fixtures.MockPatchObject(
            server, 'server_env', return_value=dict(
                os.environ, GS_FAKE_UWSGI_FAIL='1')))
        e = self.assertRaises(glance_wsgi.LauncherError, server.start,
                              timeout=60)
        self.assertIn('uwsgi exited with code 1', str(e))
        self.assertIn('no app could be loaded', str(e))
        self.assertIsNone(server.pid)

    def test_command_line(self):
        sections = os.path.join(self.tmp, 'sections.json')
        with open(sections, 'w') as f:
            json.dump({'DEFAULT': {'image_size_cap': 1}}, f)
        self.useFixture(fixtures.EnvironmentVariable(
            'PYTHONPATH', os.environ['GS_TEST_FAKE_MODULES']))
        self.useFixture(fixtures.MockPatchObject(
            glance_wsgi.GlanceWsgi, 'server_env', lambda self: dict(
                os.environ)))
        self.addCleanup(glance_wsgi.stop_workdir, self.workdir)
        # The library check refuses a source tree (the tests'):
        # --any-library skips it.
        rc = glance_wsgi.main(['start', '--workdir', self.workdir,
                               '--sections', sections, '--python',
                               self.python, '--any-library'])
        self.assertEqual(0, rc)
        with open(os.path.join(self.workdir, 'glance_wsgi.json')) as f:
            state = json.load(f)
        self.assertTrue(procs.alive(state['pid'], state['start_time']))
        self.assertEqual(0, glance_wsgi.main(['stop', '--workdir',
                                              self.workdir]))
        self.assertFalse(procs.alive(state['pid'], state['start_time']))
        self.assertEqual([], glance_wsgi.stop_workdir(self.workdir))
