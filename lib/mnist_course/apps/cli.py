"""The ``mnist-course`` command: the course runner, plus ``predict``.

    mnist-course --steps 04 --quick         # run notebooks (mnist_course.apps.runner)
    mnist-course predict my_seven.png       # predict your own digit (mnist_course.apps.predict)
"""

from __future__ import annotations

import sys

from . import predict, runner


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``predict ...`` to :func:`predict.main`, everything else to
    :func:`runner.main`; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "predict":
        return predict.main(argv[1:])
    return runner.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
