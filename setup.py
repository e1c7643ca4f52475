"""Builds the compiled engine: Cython compiles engine/*.py with the C layouts declared in
engine/*.pxd (the .py files stay the one source of behaviour). The extensions are
optional: without a C compiler the install still succeeds and LFG runs the same engine
interpreted. `make native` (run by `make setup`) rebuilds them in place after an edit.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

#: The engine modules compiled, in dependency order (their .pxd files cimport each other).
NATIVE = ("accounts", "orders", "book", "markets", "engine")

#: Only what the .pxd files declare becomes C; annotations in the .py files are for mypy,
#: not for Cython. cdivision: every division in these modules is of non-negative integers
#: (fees, holds, escrow), where C's division and Python's floor division agree.
DIRECTIVES = {
    "language_level": 3,
    "annotation_typing": False,
    "infer_types": True,
    "cdivision": True,
    "boundscheck": False,
    "wraparound": False,
}

extensions = cythonize(
    [Extension(f"engine.{m}", [f"engine/{m}.py"]) for m in NATIVE],
    compiler_directives=DIRECTIVES,
    quiet=True,
)
for ext in extensions:
    ext.optional = True  # a failed compile is a warning (cythonize drops this flag)

setup(ext_modules=extensions)
