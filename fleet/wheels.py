"""Which released library wheels a service installs: `python -m fleet.wheels <service>...`.

A service pins each library it uses to a compatible range in its pyproject.toml (`django-reliable-events>=0.3,<0.4`).
Outside the development virtualenv (which holds the libraries of this tree, editable), a service gets the newest
wheel of the local index (dist/index/, `make release-libs`) that its range allows, chosen here by version, never
built from libs/: a library change that a service has not opted into leaves its virtualenvs and its image as they
were. The wheels are then installed by file, so no package index is asked for a name that is ours.

    python -m fleet.wheels vote-service                  the wheels' paths, one per line
    python -m fleet.wheels --copy DIR vote-service       copied into DIR/vote-service/ (emptied first), for images
    python -m fleet.wheels --copy DIR monolith           a project of the repository's root alike (monolith/)

Needs `packaging` (the development virtualenv has it), unlike the rest of fleet.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from fleet.services import ROOT

INDEX = ROOT / "dist" / "index"


class NoWheel(LookupError):
    """The index has the library but no version the service's range allows."""


def released(index: Path) -> dict[str, list[tuple[Version, Path]]]:
    """The index's wheels by canonical distribution name, newest first."""
    found: dict[str, list[tuple[Version, Path]]] = {}
    for wheel in index.glob("*.whl"):
        try:
            name, version, _, _ = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename:
            continue
        found.setdefault(name, []).append((version, wheel))
    return {name: sorted(versions, reverse=True) for name, versions in found.items()}


def pick(pyproject: Path, index: Path = INDEX) -> list[Path]:
    """The wheel of each of ``pyproject``'s requirements that the index releases: the newest its range allows."""
    available = released(index)
    chosen = []
    for line in tomllib.loads(pyproject.read_text())["project"].get("dependencies", []):
        requirement = Requirement(line)
        versions = available.get(canonicalize_name(requirement.name))
        if versions is None:
            continue  # not one of ours: from the package index, as usual
        allowed = [wheel for version, wheel in versions if requirement.specifier.contains(version, prereleases=True)]
        if not allowed:
            have = ", ".join(str(version) for version, _ in versions)
            raise NoWheel(f"{pyproject}: {requirement} is not in {index} (it has {have}): `make release-libs`, or "
                          "widen the range once the service is tested on a released version")
        chosen.append(allowed[0])
    return chosen


def project_of(root: Path, name: str) -> Path:
    """The pyproject.toml of services/<name>/, else of <name>/ at the root (the monolith, beside the services)."""
    service = root / "services" / name / "pyproject.toml"
    return service if service.exists() or not (root / name / "pyproject.toml").exists() else root / name / "pyproject.toml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet.wheels", description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=INDEX)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose services/ to read")
    parser.add_argument("--copy", type=Path, help="copy each service's wheels into COPY/<service>/ instead")
    parser.add_argument("services", nargs="+", metavar="SERVICE",
                        help="a service's folder name (vote-service), or a project's at the root (monolith)")
    args = parser.parse_args(argv)
    for service in args.services:
        try:
            wheels = pick(project_of(args.root, service), args.index)
        except NoWheel as error:
            print(error, file=sys.stderr)
            return 1
        if args.copy is None:
            print("\n".join(str(wheel) for wheel in wheels))
            continue
        target = args.copy / service
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for wheel in wheels:
            shutil.copy2(wheel, target / wheel.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
