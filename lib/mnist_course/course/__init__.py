"""Course: what the notebooks call.

Modules:
    inspection        figures of the data, the errors (confusion matrix, misclassified digits) and feature maps
    conclusion        the course's conclusion from the records: each step's decision, cost and gain
    steps             the calls every step notebook makes (one run per seed, Results, goal)
"""
