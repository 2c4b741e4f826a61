"""Applications.

Modules:
    runner            running the notebooks with papermill (python -m mnist_course)
    benchmark         the speed benchmark (python -m mnist_course.apps.benchmark)
    predict           predict your own digit: MNIST-style preprocessing of an image file; shipped weights
    cli               the mnist-course command: the course, or `mnist-course predict IMAGE ...`
"""
