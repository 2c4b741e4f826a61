"""pytest configuration shared by tests/ and the nbval check of notebooks/.

Notebook kernels started by nbval inherit this process's environment, so setting
MNIST_COURSE_QUICK here makes `pytest --nbval-lax notebooks/` run every notebook in
quick mode (a slice of MNIST, one epoch). Set MNIST_COURSE_QUICK=0 to run them in full.
"""

import os

os.environ.setdefault("MNIST_COURSE_QUICK", "1")
