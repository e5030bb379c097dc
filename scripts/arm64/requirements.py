"""Prints the pip requirements for the arm64 root: the runtime and test dependencies, minus those
that cannot exist there.

Run by the root's python3 (3.11, has tomllib) so the list always follows pyproject.toml.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

# PyQt5 (the gui extra: PyQt5-Qt5 publishes no aarch64 Linux wheel) and torch (the train extra) are not
# read at all; the app tests skip without Qt. ruff: lint runs on the host, its answer does not depend on
# the CPU.
LEFT_OUT = {"ruff"}


def _name(requirement: str) -> str:
    for stop in "<>=!~[; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.lower()


def main() -> None:
    pyproject = tomllib.loads(Path(sys.argv[1]).read_text())
    wanted = [*pyproject["build-system"]["requires"], *pyproject["project"]["dependencies"],
              *pyproject["project"]["optional-dependencies"]["dev"]]
    print("\n".join(sorted({r for r in wanted if _name(r) not in LEFT_OUT})))


if __name__ == "__main__":
    main()
