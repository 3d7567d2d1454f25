"""Write docs/api.md from the docstrings of skdnn's public API.

Run ``python docs/build_api.py`` after changing a docstring;
``tests/test_docs.py`` fails while docs/api.md is out of date.
"""

import inspect
import pathlib

import skdnn

HEADER = """# API reference

Generated from the docstrings by `python docs/build_api.py`; do not edit by hand.
"""


def _is_public_method(name, member):
    # A classmethod (``from_estimator``) is not callable as found in vars().
    return not name.startswith("_") and (callable(member) or isinstance(member, classmethod))


def _public_methods(cls):
    for name, member in sorted(vars(cls).items()):
        if _is_public_method(name, member):
            yield name, getattr(cls, name)
    for base in cls.__mro__[1:]:
        if base.__module__.startswith("skdnn"):
            for name, member in sorted(vars(base).items()):
                if _is_public_method(name, member) and name not in vars(cls):
                    yield name, getattr(cls, name)


def render():
    parts = [HEADER]
    for name in skdnn.__all__:
        obj = getattr(skdnn, name)
        if not inspect.isclass(obj) and not inspect.isfunction(obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, Exception):
            signature = ""
        else:
            signature = str(inspect.signature(obj)).replace("(self, ", "(")
        parts.append(f"## `skdnn.{name}{signature}`\n")
        parts.append("```text\n" + inspect.cleandoc(obj.__doc__) + "\n```\n")
        if inspect.isclass(obj) and not issubclass(obj, Exception):
            seen = set()
            for method_name, method in _public_methods(obj):
                if method_name in seen:
                    continue
                seen.add(method_name)
                method_signature = (
                    str(inspect.signature(method)).replace("(self, ", "(").replace("(self)", "()")
                )
                parts.append(f"### `{name}.{method_name}{method_signature}`\n")
                parts.append("```text\n" + inspect.cleandoc(method.__doc__ or "") + "\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    target = pathlib.Path(__file__).with_name("api.md")
    target.write_text(render())
    print(f"wrote {target}")
