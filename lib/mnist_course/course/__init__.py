"""Course: what the notebooks call.

Modules:
    inspection        figures of the data, the errors (confusion matrix, misclassified digits) and feature maps
    conclusion        the course's conclusion from the records: each step's decision, cost and gain
    exercises         the exercises that retrain: a step and one change on a slice, a prediction checked
    steps             the calls every step notebook makes (one run per seed, Results, goal)
"""
