"""mnist_course: the shared library of the stepwise CNN architecture-search course on MNIST.

Four layers, one subpackage each; a module imports only its own layer or the ones above
it in this list (tests/test_imports.py checks it, and that no module is over 500 lines):

    engine        data, models, training and how a run is judged (paths, results, data,
                  augmentation, models, reference_models, checkpoints, optim, training,
                  settings, plots, reporting)
    experiments   recipes, ablations, the search, distillation, the reference set-ups
    course        what the notebooks call (steps, inspection, conclusion)
    apps          the course command (runner), benchmark, predict, the mnist-course CLI

Each subpackage's docstring lists its modules. ``python -m mnist_course`` is the
``mnist-course`` command.
"""

__version__ = "0.1.0"
