"""The install commands in the docs work: skdnn is not on PyPI, so none of
them may install it by its bare name from the package index. And the
minimum versions that CI tests (.ci/requirements-min.txt) are the floors
that pyproject.toml declares."""

import pathlib
import re

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

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


# ----------------------------------------------------------------------------
# Minimum versions
# ----------------------------------------------------------------------------
# The extras whose floors .ci/min-versions does not install: the docs, and
# torch, whose floor is the release the main CI run tests.
UNTESTED_EXTRAS = {"docs", "torch"}


def declared_floors(pyproject):
    """``{name: version}`` of every ``>=`` floor of the dependencies and of
    the extras that the minimum-versions run installs."""
    project = pyproject["project"]
    requirements = list(project["dependencies"])
    for extra, extra_requirements in project["optional-dependencies"].items():
        if extra not in UNTESTED_EXTRAS:
            requirements += extra_requirements
    floors = {}
    for requirement in map(Requirement, requirements):
        specifiers = list(requirement.specifier)
        if specifiers and all(specifier.operator == "!=" for specifier in specifiers):
            continue  # releases left out (a known regression), not a floor
        assert len(specifiers) == 1 and specifiers[0].operator == ">=", (
            f"{requirement}: declare one >= floor (or only != exclusions)"
        )
        (specifier,) = specifiers
        floors.setdefault(requirement.name, Version(specifier.version))
        assert floors[requirement.name] == Version(specifier.version), (
            f"{requirement.name} has two different floors in pyproject.toml"
        )
    return floors


def pinned_versions(text):
    """``{name: version}`` of the ``==`` pins of a requirements file."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{line}: pin one version with =="
            pins[requirement.name] = Version(specifier.version)
    return pins


def test_declared_floors_and_pins_are_read():
    pyproject = {
        "project": {
            "dependencies": ["keras>=3.6", "numpy>=1.24", "ml_dtypes!=0.7.0"],
            "optional-dependencies": {
                "test": ["dask[distributed]>=2024.1", "numpy>=1.24"],
                "docs": ["sphinx>=7.3"],
            },
        }
    }
    assert declared_floors(pyproject) == {
        "keras": Version("3.6"),
        "numpy": Version("1.24"),
        "dask": Version("2024.1"),
    }
    text = "# a comment\nkeras==3.6.0  # why\n\ndask==2024.1.0\n"
    assert pinned_versions(text) == {"keras": Version("3.6"), "dask": Version("2024.1")}
    with pytest.raises(AssertionError, match="floor"):
        declared_floors({"project": {"dependencies": ["keras>3"], "optional-dependencies": {}}})
    with pytest.raises(AssertionError, match="floor"):
        declared_floors(
            {"project": {"dependencies": ["keras!=3.7,<4"], "optional-dependencies": {}}}
        )
    with pytest.raises(AssertionError, match="=="):
        pinned_versions("keras>=3.6\n")


def test_minimum_versions_are_the_declared_floors():
    with open(ROOT / "pyproject.toml", "rb") as file:
        floors = declared_floors(tomllib.load(file))
    pins = pinned_versions((ROOT / ".ci" / "requirements-min.txt").read_text())
    differences = {
        name: f"pinned {pins.get(name)}, declared {floors.get(name)}"
        for name in sorted(pins.keys() | floors.keys())
        if pins.get(name) != floors.get(name)
    }
    assert not differences, (
        f"The pins of .ci/requirements-min.txt must be the >= floors of pyproject.toml: "
        f"{differences}. Change both together, and run .ci/min-versions."
    )
