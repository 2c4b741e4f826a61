"""``python -m mnist_course ...``: the ``mnist-course`` command (the course runner, or ``predict``)."""

from .apps.cli import main

raise SystemExit(main())
