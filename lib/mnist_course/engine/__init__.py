"""Engine: data, models, training and how a run is judged.

Modules:
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
"""
