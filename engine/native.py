"""Which build of the engine runs: compiled (Cython, `make native`) or interpreted.

The engine's behaviour lives in plain Python (engine/*.py); `setup.py` compiles five of
its modules with the C layouts of engine/*.pxd. The compiled modules sit next to their
sources and Python would import them first, so this module decides before any engine
module is imported:

- `LFG_ENGINE=python` runs the interpreted engine (debugging, coverage); any other
  non-empty value is refused with a ValueError naming the variable;
- compiled modules older than any of their sources (an edit since the last build) would
  run old code: the interpreted engine runs instead, with a warning to rebuild;
- a module that was never compiled: the interpreted engine, all of it (a compiled module
  needs its compiled neighbours).

`BUILD` says which, in words, for logs and the benchmark; `COMPILED` is True when the
compiled engine runs.
"""

import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from importlib.util import spec_from_file_location
from types import ModuleType
from typing import Final

#: The modules setup.py compiles.
MODULES: Final = ("accounts", "orders", "book", "markets", "engine")
_HERE: Final = os.path.dirname(os.path.abspath(__file__))


class _Interpreted:
    """Import finder: the engine's compiled modules from their .py sources instead."""

    @staticmethod
    def find_spec(
        fullname: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package == "engine" and name in MODULES:
            return spec_from_file_location(fullname, os.path.join(_HERE, name + ".py"))
        return None


def _compiled_file(name: str) -> str | None:
    for suffix in EXTENSION_SUFFIXES:
        path = os.path.join(_HERE, name + suffix)
        if os.path.exists(path):
            return path
    return None


def _choose() -> str:
    wanted = os.environ.get("LFG_ENGINE", "").strip().lower()
    if wanted not in ("", "python"):
        raise ValueError(
            f"LFG_ENGINE={wanted!r}: set it to 'python' to run the interpreted engine, or "
            "leave it unset to run the compiled one when it is built"
        )
    if wanted == "python":
        sys.meta_path.insert(0, _Interpreted)
        return "interpreted (LFG_ENGINE=python)"
    built = {name: _compiled_file(name) for name in MODULES}
    if not all(built.values()):
        if any(built.values()):
            sys.meta_path.insert(0, _Interpreted)
        return "interpreted (not compiled: make native)"
    for name, so in built.items():
        assert so is not None
        for ext in (".py", ".pxd"):
            src = os.path.join(_HERE, name + ext)
            if os.path.getmtime(src) > os.path.getmtime(so):
                sys.meta_path.insert(0, _Interpreted)
                warnings.warn(
                    f"engine/{name}{ext} changed after the engine was compiled: running it "
                    "interpreted (make native rebuilds it)",
                    RuntimeWarning,
                    stacklevel=3,
                )
                return f"interpreted (engine/{name}{ext} is newer than its build: make native)"
    return "compiled"


BUILD: Final = _choose()
COMPILED: Final = BUILD == "compiled"
