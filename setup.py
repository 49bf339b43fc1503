"""The compiled fast paths of the Exim and Postfix parsers (src/trackdelivery/parse/_eximc.c, _postfixc.c).

Everything else is in pyproject.toml. The extensions are optional: where they cannot be built (no C
compiler or Python headers), pip installs the package without them and the Python parsers read every line.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            f"trackdelivery.parse.{name}",
            [f"src/trackdelivery/parse/{name}.c"],
            depends=["src/trackdelivery/parse/_fastparse.h"],
            optional=True,
            extra_compile_args=["-O2"],
        )
        for name in ("_eximc", "_postfixc")
    ]
)
