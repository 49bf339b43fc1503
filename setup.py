"""The compiled fast paths: the Exim and Postfix parsers (src/trackdelivery/parse/_eximc.c, _postfixc.c),
the Exim and Postfix correlators' common lines (src/trackdelivery/_correlc.c), the ingest's reading loop
(src/trackdelivery/_ingestc.c) and the store's bulk INSERTs (src/trackdelivery/store/_bulkc.c).

Everything else is in pyproject.toml. The extensions are optional: where they cannot be built (no C
compiler or Python headers), pip installs the package without them and the Python code does their work.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            f"trackdelivery.parse.{name}",
            [f"src/trackdelivery/parse/{name}.c"],
            depends=["src/trackdelivery/parse/_fastparse.h", "src/trackdelivery/_slots.h"],
            optional=True,
            extra_compile_args=["-O2"],
        )
        for name in ("_eximc", "_postfixc")
    ]
    + [
        Extension("trackdelivery._correlc", ["src/trackdelivery/_correlc.c"], depends=["src/trackdelivery/_slots.h"],
                  optional=True, extra_compile_args=["-O2"]),
        Extension("trackdelivery._ingestc", ["src/trackdelivery/_ingestc.c"], depends=["src/trackdelivery/_slots.h"],
                  optional=True, extra_compile_args=["-O2"]),
        # No SQLite header or library: it finds SQLite's functions in the library Python's sqlite3 uses.
        Extension("trackdelivery.store._bulkc", ["src/trackdelivery/store/_bulkc.c"],
                  depends=["src/trackdelivery/_slots.h"], optional=True, extra_compile_args=["-O2"], libraries=["dl"]),
    ]
)
