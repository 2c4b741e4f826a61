"""The README's generated blocks come from reports/ through scripts/update_readme.py."""

import importlib.util

import pytest

from mnist_course.engine.paths import REPO_ROOT, recorded_reports_dir

spec = importlib.util.spec_from_file_location("update_readme", REPO_ROOT / "scripts" / "update_readme.py")
update_readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(update_readme)


def test_blocks_are_replaced_between_their_markers():
    start, end = update_readme.RESULTS
    text = f"intro\n{start}\nold table\n{end}\noutro\n"
    assert update_readme.replace_block(text, update_readme.RESULTS, "new") == f"intro\n{start}\nnew\n{end}\noutro\n"
    with pytest.raises(ValueError, match="marker .* not found"):
        update_readme.replace_block("no markers", update_readme.RESULTS, "new")


@pytest.mark.records
def test_the_committed_readme_and_docs_quote_the_recorded_reports():
    assert update_readme.main(["--check"]) == 0, "README.md or docs/ is out of date with reports/"
    for path, text in update_readme.updated_files(REPO_ROOT, recorded_reports_dir()).items():
        assert path.read_text() == text, path.name
