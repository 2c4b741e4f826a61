"""mnist_course: the shared library of the stepwise CNN architecture-search course on MNIST.

Modules, one concern each, listed so that each imports only modules above it:
    paths        where files go (reports/, runs/, checkpoints/), atomic writes, the run cache; imports nothing of ours
    results      the figures a run is judged by: final epoch, last 3 epochs, best epoch, mean ± std
    data         real MNIST as normalised tensors on the device; validation split; batches; augmentation
    models       the step models and the reference architectures; parameter counts; RF tables
    checkpoints  saving and safely loading state_dict files
    training     fit (per-epoch history) and evaluate; devices and seeds
    distill      knowledge distillation: named teachers, trained once per training split, and their logits
    reporting    report JSON, summary tables, curve plots
    inspection   figures of the data, the errors (confusion matrix, misclassified digits) and feature maps
    settings     checking notebook parameters; quick mode; where a run records
    steps        the calls every step notebook makes (one run per seed, Results, goal)
    ablation     step recipes as data; variants trained on the validation split, one change each
    search       Step 5: the design space, its Optuna search under a parameter budget, confirmation, record
    predict      predict your own digit: MNIST-style preprocessing of an image file; shipped weights
    reference    helpers of the reference set-ups
    course       running the notebooks with papermill (python -m mnist_course.course)
    benchmark    the speed benchmark (python -m mnist_course.benchmark)
    cli          the mnist-course command: the course, or `mnist-course predict IMAGE ...`
"""

__version__ = "0.1.0"
