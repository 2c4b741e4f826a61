"""mnist_course: the shared library of the stepwise CNN architecture-search course on MNIST.

Modules, one concern each:
    data       real MNIST as normalised tensors on the training device; batches; rotation
    models     the four step models; parameter counts; shape / receptive-field tables
    training   fit (per-epoch history) and evaluate; devices and seeds
    reporting  atomic JSON reports, summary table, curve plots
    settings   checking notebook parameters; quick mode
    course     running every notebook with papermill
"""

__version__ = "0.1.0"
