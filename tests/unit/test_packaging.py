"""The installed distribution carries every file the code reads, not only its modules.

The images install the package (`pip install .`) and the `connective` command imports the installed copy:
a data file left out of it (the default points rules, once) breaks the command in the image only.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services", "devstack")


def test_every_data_file_of_the_packages_is_declared_as_package_data() -> None:
    declared: dict[str, list[str]] = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    missing = []
    for package in PACKAGES:
        for path in (REPOSITORY / package).rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            owner = ".".join(path.parent.relative_to(REPOSITORY).parts)
            if not any(fnmatch.fnmatch(path.name, pattern) for pattern in declared.get(owner, [])):
                missing.append(str(path.relative_to(REPOSITORY)))
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
