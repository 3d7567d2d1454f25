"""The install commands in the docs work from a checkout or a built wheel,
and the minimum versions that CI tests (.ci/requirements-min.txt) are the
floors that pyproject.toml declares."""

import pathlib
import re

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    str(p.relative_to(ROOT))
    for p in [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *(ROOT / "docs").glob("**/*.md"),
        *(ROOT / "examples").glob("*.py"),
    ]
    if "_build" not in p.parts
)
# "pip install" and its arguments, up to the end of the command.
PIP_INSTALL = re.compile(r"pip3?\s+install\s+([^`\n&|;#]*)")
# What ``python -m build`` writes (README: "Or build a wheel once").
WHEEL = re.compile(r"dist/skdnn-[^/]*\.whl")
# Options whose next argument is not a requirement (a constraints file).
OPTIONS_WITH_VALUE = {"-c", "--constraint", "-r", "--requirement"}


def _extras():
    with open(ROOT / "pyproject.toml", "rb") as file:
        return set(tomllib.load(file)["project"]["optional-dependencies"])


def install_problems(command, extras):
    """What would not work in one ``pip install`` command from a checkout of
    skdnn or with its built wheel: skdnn by name (it installs from the
    package index), unknown extras, a wheel that the build does not write."""
    problems = []
    args = command.split()
    for previous, arg in zip([None, *args], args, strict=False):
        arg = arg.strip("'\"")
        if arg.startswith("-") or previous in OPTIONS_WITH_VALUE:
            continue
        if arg == "." or arg.startswith(".["):
            asked = set(re.findall(r"[\w-]+", arg[1:]))
            problems += [f"{arg}: no extra {name!r}" for name in sorted(asked - extras)]
        elif arg.endswith(".whl"):
            if not WHEEL.fullmatch(arg):
                problems.append(f"{arg}: the build writes dist/skdnn-<version>-*.whl")
        else:
            try:
                name = Requirement(arg).name
            except InvalidRequirement:
                problems.append(f"{arg}: not a requirement pip understands")
                continue
            if name == "skdnn":
                problems.append(f"{arg}: installs skdnn by name from the package index")
    return problems


@pytest.mark.parametrize(
    "command, works",
    [
        ("pip install skdnn", False),
        ("pip install 'skdnn[plot]'", False),
        ("pip install -U skdnn==0.2.0", False),
        ('pip install ".[plotting]"', False),
        ("pip install skdnn-0.2.0.whl", False),
        ("pip install .", True),
        ('pip install ".[plot]"', True),
        ("pip install -e '.[test,jax]'", True),
        ("pip install dist/skdnn-*.whl", True),
        ('pip install "torch==2.13.0" matplotlib -c .ci/requirements-min.txt', True),
    ],
)
def test_install_problems_are_found(command, works):
    arguments = PIP_INSTALL.search(command).group(1)
    assert (not install_problems(arguments, {"plot", "test", "jax"})) is works


@pytest.mark.parametrize("document", DOCUMENTS)
def test_install_commands_work_from_a_checkout_or_a_wheel(document):
    extras = _extras()
    problems = [
        problem
        for match in PIP_INSTALL.finditer((ROOT / document).read_text())
        for problem in install_problems(match.group(1), extras)
    ]
    assert not problems, (
        f"{document} has install commands that do not work from a checkout of skdnn or "
        f"its built wheel: {problems}. Install from a checkout (pip install . or "
        f'".[extra]" with an extra of pyproject.toml) or from dist/skdnn-*.whl.'
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
