"""The compiled fast path of the Exim parser (src/trackdelivery/parse/_eximc.c).

Everything else is in pyproject.toml. The extension is optional: where it cannot be built (no C
compiler or Python headers), pip installs the package without it and the Python parser reads every line.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "trackdelivery.parse._eximc",
            ["src/trackdelivery/parse/_eximc.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
