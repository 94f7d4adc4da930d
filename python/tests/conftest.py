import os
import shutil

import pytest

import bitnet

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def _tool(name):
    """A bitnet command-line tool: $BITNET_BUILD_DIR/tools, else the
    repository's build/tools, else PATH. None when absent."""
    dirs = [os.environ.get("BITNET_BUILD_DIR"), os.path.join(REPO, "build")]
    for d in dirs:
        if d and os.access(os.path.join(d, "tools", name), os.X_OK):
            return os.path.join(d, "tools", name)
    return shutil.which(name)


@pytest.fixture(scope="session")
def tool():
    def get(name):
        p = _tool(name)
        if p is None:
            if os.environ.get("BITNET_REQUIRE_TOOLS"):
                pytest.fail(f"{name} not found (BITNET_BUILD_DIR={os.environ.get('BITNET_BUILD_DIR')})")
            pytest.skip(f"{name} not found: build the tools and set BITNET_BUILD_DIR")
        return p
    return get


@pytest.fixture(scope="session")
def model():
    m = bitnet.Model(n_threads=1)
    yield m
    m.close()
