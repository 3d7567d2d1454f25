"""The install commands in the docs work: skdnn is not on PyPI, so none of
them may install it by its bare name from the package index."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", "docs/migration.md", "docs/scaling.md", "docs/user_guide.md"] + sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.py")
)
# "pip install" and its arguments, up to the end of the command.
PIP_INSTALL = re.compile(r"pip3?\s+install\s+([^`\n&|;#]*)")
# skdnn by name (with extras or a version), not a path, a wheel or ".".
FROM_INDEX = re.compile(r"skdnn(\[[^\]]*\])?([<>=!~].*)?")


def index_installs(text):
    """The ``pip install`` commands in ``text`` that fetch skdnn from an index."""
    found = []
    for match in PIP_INSTALL.finditer(text):
        requirements = [
            arg.strip("'\"") for arg in match.group(1).split() if not arg.startswith("-")
        ]
        if any(FROM_INDEX.fullmatch(req) for req in requirements):
            found.append(match.group(0).strip())
    return found


@pytest.mark.parametrize(
    "command, from_index",
    [
        ("pip install skdnn", True),
        ("`pip install 'skdnn[plot]'`", True),
        ("python -m pip install -U skdnn==0.2.0 && python x.py", True),
        ("pip install .", False),
        ('pip install ".[plot]"', False),
        ("pip install -e '.[test]'", False),
        ("pip install dist/skdnn-*.whl", False),
        ("pip install matplotlib", False),
    ],
)
def test_index_installs_spots_the_bare_name(command, from_index):
    assert bool(index_installs(command)) is from_index


@pytest.mark.parametrize("document", DOCUMENTS)
def test_no_install_from_the_package_index(document):
    found = index_installs((ROOT / document).read_text())
    assert not found, (
        f"{document} installs skdnn from PyPI, where it is not published: {found}. "
        'Install from a checkout instead: pip install . (or ".[plot]", ".[dask]").'
    )
