"""Build configuration beyond pyproject.toml: the optional C accelerator.

``optional=True``: without a compiler, the package installs without it and
uses the pure-Python implementation.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "websockets_typed._speedups",
            sources=["websockets_typed/_speedups.c"],
            optional=True,
        )
    ]
)
