"""The Colab badges and clone cell are written from [project.urls] Repository."""

import importlib.util
import shutil

import nbformat
import pytest

from mnist_course.engine.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("colab_links", REPO_ROOT / "scripts" / "colab_links.py")
colab_links = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_links)


def test_every_committed_link_points_at_the_repository_of_pyproject():
    assert colab_links.update(check=True) == []
    repo = colab_links.repository()
    text = (REPO_ROOT / "notebooks" / "04_capacity.ipynb").read_text()
    assert f"git clone --depth 1 {repo}.git" in text and repo.removeprefix("https://github.com/") in text


def test_a_fork_changes_the_address_in_one_place(tmp_path):
    for name in ("README.md", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copytree(REPO_ROOT / "docs", tmp_path / "docs")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(colab_links.repository(), "https://github.com/someone/fork"))
    notebooks = len(list((tmp_path / "notebooks").rglob("*.ipynb")))
    assert notebooks >= 9  # 5 steps and 4 reference set-ups
    # every notebook, the README and the reference set-ups' page
    assert len(colab_links.update(tmp_path, check=True)) == notebooks + 2
    colab_links.update(tmp_path)
    assert colab_links.update(tmp_path, check=True) == []
    nb = nbformat.read(tmp_path / "notebooks" / "reference" / "r2_wide_593k.ipynb", as_version=4)
    assert "colab.research.google.com/github/someone/fork/blob/main/notebooks/reference/r2_wide_593k.ipynb" \
        in nb.cells[0].source
    assert "!git clone --depth 1 https://github.com/someone/fork.git mnist-course" in nb.cells[1].source
    assert "github/someone/fork/blob/main/notebooks/01_setup.ipynb" in (tmp_path / "README.md").read_text()
    pyproject.write_text(pyproject.read_text().replace("https://github.com/someone/fork", "gitlab.com/x"))
    with pytest.raises(ValueError, match="Repository='gitlab.com/x'.*https://github.com/<owner>/<name>"):
        colab_links.repository(pyproject)
