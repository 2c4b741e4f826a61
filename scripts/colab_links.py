"""Write the Colab links from the one place that holds the repository's address.

    python scripts/colab_links.py            # rewrite the links where they differ
    python scripts/colab_links.py --check    # exit 1 if any link differs

The address is ``Repository`` under ``[project.urls]`` in pyproject.toml; a fork changes
it there and runs this script. It rewrites, in every notebook, the "Open in Colab" badge
of the first cell and the ``git clone`` of the Colab set-up cell, and in README.md and
docs/*.md the badges of the notebook tables. The set-up cell runs ``pip install -e`` of the clone
without pinning torch, so Colab's own torch and torchvision satisfy the requirement and
are kept.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from mnist_course.engine.paths import REPO_ROOT

BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/")
CLONE = re.compile(r"!git clone --depth 1 \S+ mnist-course")


def repository(pyproject: Path = REPO_ROOT / "pyproject.toml") -> str:
    """The GitHub address in [project.urls] Repository, e.g. https://github.com/owner/name.
    Raises ValueError when it is missing or not a GitHub address."""
    # A line match rather than a TOML parser: tomllib needs Python 3.11, the course 3.10.
    found = re.search(r'^Repository\s*=\s*"([^"]*)"', pyproject.read_text(), re.MULTILINE)
    url = found.group(1) if found else ""
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(f"[project.urls] Repository={url!r} in {pyproject.name} is invalid; use "
                         f"https://github.com/<owner>/<name>")
    return url


def linked(text: str, repo: str) -> str:
    """``text`` with every Colab badge link and the clone command pointing at ``repo``."""
    colab = f"https://colab.research.google.com/github/{repo.removeprefix('https://github.com/')}/blob/main/"
    return CLONE.sub(f"!git clone --depth 1 {repo}.git mnist-course", BADGE.sub(colab, text))


def update(root: Path = REPO_ROOT, check: bool = False) -> list[Path]:
    """Rewrite (or, with ``check``, only list) the files whose links differ; returns them."""
    repo = repository(root / "pyproject.toml")
    changed = []
    for path in sorted((root / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        dirty = False
        for cell in nb.cells:
            new = linked(cell.source, repo)
            if new != cell.source:
                cell.source, dirty = new, True
        if dirty:
            changed.append(path)
            if not check:
                nbformat.write(nb, path)
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = page.read_text()
        if linked(text, repo) != text:
            changed.append(page)
            if not check:
                page.write_text(linked(text, repo))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a link differs")
    args = parser.parse_args(argv)
    changed = update(check=args.check)
    for path in changed:
        print(f"{'differs' if args.check else 'updated'}: {path.relative_to(REPO_ROOT)}")
    if args.check and changed:
        print("Colab links differ from [project.urls] Repository: run `python scripts/colab_links.py`.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
