"""The build step pyproject.toml cannot say: compile the page texts' catalogs (.po → .mo).

Runs with every build setuptools makes — a wheel, an sdist's wheel, ``pip install -e`` — so an
installed kejin always has the ``.mo`` files its pages read (they are not in git).
"""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).parent / "src"))
from kejin.web.catalogs import compile_catalogs


class BuildWithCatalogs(build_py):
    def run(self) -> None:
        compile_catalogs()
        super().run()


setup(cmdclass={"build_py": BuildWithCatalogs})
