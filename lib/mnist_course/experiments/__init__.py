"""Experiments: recipes, ablations, the search, distillation.

Modules:
    recipes           each step's model and training as data (RECIPES), the searched winners
    ablation_plans    each ablation as data (rows, question, seeds, fold, rule) and the rule's decide()
    distill           knowledge distillation: named teachers, trained once per training split, and their logits
    ablation          ablations trained on the validation split and shown with their decision
    search_space      Step 5's design space, warm starts, and a trial's model and training
    search_stages     Step 5's confirmation and record of the best trials
    search            Step 5's Optuna search under a parameter budget (storage, settings, CLI)
    search_plots      Step 5's charts
    reference         helpers of the reference set-ups
"""
