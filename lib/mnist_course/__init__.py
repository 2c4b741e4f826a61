"""mnist_course: the shared library of the stepwise CNN architecture-search course on MNIST.

Modules, one concern each, in four layers; a module imports only its own layer or the
ones above it in this list (tests/test_imports.py checks it, and that no module is over
500 lines).

Engine: data, models, training and how a run is judged
    paths             where files go (reports/, runs/, checkpoints/), atomic writes, the run cache; imports nothing
    results           the figures a run is judged by: final epoch, last 3 epochs, mean ± std, the goal's bound
    data              real MNIST as normalised tensors on the device; validation split; batches; augmentation
    augmentation      the training augmentation as one piece (Augmentation: crop, rotation, shift, scale, elastic)
    models            the step models and Step 5's searched network; parameter counts; RF tables
    reference_models  the reference set-ups' networks, each as its source describes it
    checkpoints       saving and safely loading state_dict files
    optim             the optimizer and learning-rate schedule of a TrainConfig
    training          fit (per-epoch history) and evaluate; devices and seeds
    settings          checking notebook parameters; quick mode; where a run records
    plots             training curves, the parameters-vs-accuracy chart, set-up comparisons
    reporting         report JSON, summary tables, the README's generated blocks
Experiments: recipes, ablations, the search, distillation
    recipes           each step's model and training as data (RECIPES), the searched winners
    ablation_plans    each ablation as data (rows, question, seeds, fold, rule) and the rule's decide()
    distill           knowledge distillation: named teachers, trained once per training split, and their logits
    ablation          ablations trained on the validation split and shown with their decision
    search_space      Step 5's design space, warm starts, and a trial's model and training
    search_stages     Step 5's confirmation and record of the best trials
    search            Step 5's Optuna search under a parameter budget (storage, settings, CLI)
    search_plots      Step 5's charts
    reference         helpers of the reference set-ups
Course: what the notebooks call
    inspection        figures of the data, the errors (confusion matrix, misclassified digits) and feature maps
    conclusion        the course's conclusion from the records: each step's decision, cost and gain
    steps             the calls every step notebook makes (one run per seed, Results, goal)
Applications
    course            running the notebooks with papermill (python -m mnist_course.course)
    benchmark         the speed benchmark (python -m mnist_course.benchmark)
    predict           predict your own digit: MNIST-style preprocessing of an image file; shipped weights
    cli               the mnist-course command: the course, or `mnist-course predict IMAGE ...`
"""

__version__ = "0.1.0"
