import configparser
import os

import setuptools

# The version is the one in setup.cfg ([metadata] version), whatever the
# build starts from (a git checkout, an sdist, a wheel built from either).
# Left to itself, pbr turns it into X.Y.Z.devN in a checkout without a
# release tag at HEAD, a pre-release that Glance's requirements and
# "pip check" must not have to deal with. A PBR_VERSION set by the caller
# still wins.
_cfg = configparser.RawConfigParser()
_cfg.read(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       'setup.cfg'))
os.environ.setdefault('PBR_VERSION', _cfg.get('metadata', 'version'))

setuptools.setup(
    setup_requires=['pbr>=2.0.0'],
    pbr=True)
