"""Releases the libraries into a local package index: `make release-libs`.

Each library is built (sdist and wheel, ``uv build``), checked (``twine check --strict``; the wheel carries LICENSE
and the metadata a package index shows: version from ``__version__``, Requires-Python, classifiers, project URLs,
the license expression; CHANGELOG.md has a section for the version), then copied into ``dist/index/``, a flat
find-links folder that keeps every version released so far (``pip install --find-links dist/index ...``,
``uv pip install --find-links dist/index ...``). Rebuilding a version already there with other contents replaces
it with a warning: a version is mutable only until something pins it.
"""

from __future__ import annotations

import argparse
import email.parser
import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARIES = {"django-reliable-events": HERE / "django-events", "django-service-kit": HERE / "django-service-kit"}
REQUIRED_METADATA = ("Name", "Version", "Requires-Python", "License-Expression", "Summary")


def version_of(folder: Path) -> str:
    [init] = (folder / "src").glob("*/__init__.py")
    match = re.search(r'^__version__ = "([^"]+)"$', init.read_text(), re.MULTILINE)
    if not match:
        raise SystemExit(f"{init}: no __version__")
    return match.group(1)


def check_wheel(wheel: Path, name: str, version: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata_path] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(metadata_path).decode())
    problems = [f"no {field}" for field in REQUIRED_METADATA if not metadata.get(field)]
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append("no LICENSE")
    if (metadata["Name"], metadata["Version"]) != (name, version):
        problems.append(f"is {metadata['Name']} {metadata['Version']}, not {name} {version}")
    for field in ("Classifier", "Project-URL", "Keywords"):
        if not metadata.get_all(field):
            problems.append(f"no {field}")
    if problems:
        raise SystemExit(f"{wheel.name}: {', '.join(problems)}")


def check_changelog(folder: Path, version: str) -> None:
    if not re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", (folder / "CHANGELOG.md").read_text(),
                     re.MULTILINE):
        raise SystemExit(f"{folder / 'CHANGELOG.md'}: no '## [{version}] - YYYY-MM-DD' section")


def release(index: Path, twine: str) -> list[Path]:
    index.mkdir(parents=True, exist_ok=True)
    released = []
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        for name, folder in LIBRARIES.items():
            version = version_of(folder)
            check_changelog(folder, version)
            subprocess.run(["uv", "build", "-q", "--out-dir", str(out), str(folder)], check=True)
            [wheel] = out.glob(f"{name.replace('-', '_')}-{version}-*.whl")
            check_wheel(wheel, name, version)
        # uv build also leaves a .gitignore in its output folder.
        built = sorted([*out.glob("*.whl"), *out.glob("*.tar.gz")])
        subprocess.run([twine, "check", "--strict", *map(str, built)], check=True)
        for artifact in built:
            target = index / artifact.name
            if target.exists() and artifact.suffix == ".whl" and not _same_wheel(artifact, target):
                # Fine while a version is being prepared; once services pin it, raise the version instead.
                print(f"warning: {target.name} replaced by different contents of the same version", file=sys.stderr)
            shutil.copyfile(artifact, target)
            released.append(target)
    return released


def _same_wheel(a: Path, b: Path) -> bool:
    """Wheels of the same sources compare equal file by file (their zip timestamps may differ)."""
    if filecmp.cmp(a, b, shallow=False):
        return True
    with zipfile.ZipFile(a) as first, zipfile.ZipFile(b) as second:
        if sorted(first.namelist()) != sorted(second.namelist()):
            return False
        return all(first.read(n) == second.read(n) for n in first.namelist() if not n.endswith("/RECORD"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=HERE.parent / "dist" / "index")
    parser.add_argument("--twine", default=str(Path(sys.executable).with_name("twine")))
    args = parser.parse_args()
    for path in release(args.index, args.twine):
        print(f"released {path}")


if __name__ == "__main__":
    main()
