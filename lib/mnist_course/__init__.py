"""mnist_course: the shared library of the stepwise CNN architecture-search course on MNIST.

Modules, one concern each:
    data         real MNIST as normalised tensors on the training device; batches; rotation
    models       the four step models; parameter counts; shape / receptive-field tables
    training     fit (per-epoch history) and evaluate; devices and seeds
    reporting    atomic JSON reports, summary tables, curve plots
    settings     checking notebook parameters; quick mode
    steps        the calls every step notebook makes
    checkpoints  saving and safely loading state_dict files
    reference    the reference set-ups' models and helpers
    course       running the notebooks with papermill (python -m mnist_course.course)
    benchmark    the speed benchmark (python -m mnist_course.benchmark)
"""

__version__ = "0.1.0"
