"""The course's training augmentation as one composable piece: :class:`Augmentation`.

It holds the settings of the batch transforms of :mod:`mnist_course.engine.data` (a random
centre crop resized back, a random rotation, shift and scale in one resampling, an
elastic distortion) and of :func:`random_brightness_contrast`, and applies them in that
order. ``training.fit`` takes any ``augment(X, generator) -> X``; an Augmentation is the
course's own, as a recipe that augments beyond a rotation and a shift carries it
(``recipes.Recipe.augment``).

    augment = Augmentation(max_rotation=7.0, max_shift=2, max_scale=0.1)
    history = fit(model, train, test, config, augment=augment)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import (
    IMAGE_SIZE,
    INTERPOLATIONS,
    MNIST_MEAN,
    MNIST_STD,
    check_affine,
    check_elastic,
    random_affine,
    random_center_crop_resize,
    random_elastic,
)


def check_brightness_contrast(p: float, brightness: float, contrast: float) -> None:
    """Raise ValueError naming ``p`` outside [0, 1] or a limit outside [0, 1)."""
    if not 0 <= p <= 1:
        raise ValueError(f"brightness_contrast_p={p!r} is invalid; use a probability from 0 to 1")
    for name, limit in (("brightness", brightness), ("contrast", contrast)):
        if not 0 <= limit < 1:
            raise ValueError(f"{name}={limit!r} is invalid; use a limit from 0 (none) up to, not including, 1")


def random_brightness_contrast(X: torch.Tensor, p: float, brightness: float, contrast: float,
                               generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p`` per image, its brightness and contrast changed as
    albumentations' ``RandomBrightnessContrast(brightness_limit, contrast_limit)`` changes
    an image: v x alpha + beta on the pixel values in [0, 1], alpha uniform in
    1 +- ``contrast``, beta uniform in +- ``brightness``, clipped to [0, 1] (here on float
    images, so not truncated to 8-bit levels). Reference 5 trains with both limits 0.2 and
    p = 0.5 (adilsammar/woolly-of-cv, ``assets/mnist/mnist/transform.py``).
    X: (N, 1, H, W) normalised images (``data.MNIST_MEAN``, ``data.MNIST_STD``); returns
    them changed and normalised again. Draws, in this order, N values for whether, N for
    alpha and N for beta from ``generator``; with p = 0 or both limits 0 it returns X and
    draws nothing. Raises ValueError as :func:`check_brightness_contrast`."""
    check_brightness_contrast(p, brightness, contrast)
    if p == 0 or (brightness == 0 and contrast == 0):
        return X
    n, device = len(X), X.device
    changed = torch.rand(n, generator=generator, device=device) < p
    alpha = 1 + (2 * torch.rand(n, generator=generator, device=device) - 1) * contrast
    beta = (2 * torch.rand(n, generator=generator, device=device) - 1) * brightness
    pixels = X * MNIST_STD + MNIST_MEAN                                      # (N, 1, H, W) in [0, 1]
    adjusted = (pixels * alpha.view(-1, 1, 1, 1) + beta.view(-1, 1, 1, 1)).clamp(0, 1)
    return torch.where(changed.view(-1, 1, 1, 1), (adjusted - MNIST_MEAN) / MNIST_STD, X)


@dataclass(frozen=True)
class Augmentation:
    """A training batch's augmentation, as ``training.fit`` applies it in an augmented
    epoch: ``augmentation(X, generator)`` crops the centre (``crop_resize_p``), then
    rotates, shifts and scales in one resampling (:func:`data.random_affine`), then
    distorts elastically (:func:`data.random_elastic`), then changes brightness and
    contrast (:func:`random_brightness_contrast`). X: (N, 1, H, W) normalised
    images; returns a new tensor of the same shape (X itself when nothing is on). The
    draws from ``generator`` are those of :func:`data.random_center_crop_resize`,
    :func:`data.random_affine`, :func:`data.random_elastic` and
    :func:`random_brightness_contrast`, in this order; a part that
    is off draws nothing, so a run keeps the random stream it had before that part
    existed. :meth:`check` names an invalid field before training."""

    max_rotation: float = 0.0    # degrees of random rotation per training image; 0 = none
    max_shift: int = 0           # pixels: each training image shifted by a whole number of pixels
                                 # within +-max_shift along x and along y (0 to 13; 0 = none)
    max_scale: float = 0.0       # each training image scaled by a factor within 1 +- max_scale, in
                                 # the same resampling as the rotation and shift (torchvision's
                                 # RandomAffine(max_rotation, translate, scale)); 0 = none
    elastic_alpha: float = 0.0   # pixels: after the rotation, shift and scale, each training image
                                 # resampled along its own random smooth displacement field, uniform
                                 # noise in [-1, 1) per pixel blurred by elastic_sigma and times this
                                 # (Simard et al., ICDAR 2003: 34; torchvision's ElasticTransform with
                                 # alpha = 2 x this); 0 = none
    elastic_sigma: float = 4.0   # pixels: standard deviation of that blur, the field's smoothness
                                 # (Simard et al.: 4; 0 < sigma < 6.875 on 28 x 28 images)
    crop_resize_p: float = 0.0   # probability per training image of cropping its central crop_size
                                 # x crop_size pixels and resizing them back to 28 x 28 (bilinear),
                                 # before the rotation; 0 = never (the ERA S5 template: 0.1)
    crop_size: int = 22          # pixels per side of that centre crop (1 to 27)
    rotation_interpolation: str = "bilinear"  # of the rotation (shift, scale): "bilinear" or "nearest"
                                 # (the ERA S5 template's RandomRotation uses torchvision's default, nearest)
    brightness: float = 0.0      # last, each training image's pixel values (0-1) plus beta, uniform in
                                 # +-brightness (0 to < 1; 0 = none; reference 5: 0.2) ...
    contrast: float = 0.0        # ... after times alpha, uniform in 1 +- contrast (0 to < 1; reference 5: 0.2),
    brightness_contrast_p: float = 0.5  # with this probability per image (albumentations' p)

    def check(self, image_size: int = IMAGE_SIZE) -> None:
        """Raise ValueError naming the field, its value and the valid ones when a setting is
        invalid, also one that is unused (an interpolation without rotation, a crop size at
        crop_resize_p = 0): a typo is caught before training."""
        if self.rotation_interpolation not in INTERPOLATIONS:
            raise ValueError(f"rotation_interpolation={self.rotation_interpolation!r} is invalid; "
                             f"valid: {', '.join(INTERPOLATIONS)}")
        if not 0 <= self.crop_resize_p <= 1:
            raise ValueError(f"crop_resize_p={self.crop_resize_p!r} is invalid; use a probability from 0 to 1")
        size = self.crop_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size < image_size:
            raise ValueError(f"crop_size={size!r} is invalid; use a whole number of pixels from 1 to {image_size - 1}")
        check_affine(self.max_shift, self.max_scale, image_size)
        check_elastic(self.elastic_alpha, self.elastic_sigma, image_size)
        check_brightness_contrast(self.brightness_contrast_p, self.brightness, self.contrast)

    def __call__(self, X: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.crop_resize_p > 0:
            X = random_center_crop_resize(X, self.crop_resize_p, self.crop_size, generator)
        X = random_affine(X, self.max_rotation, self.max_shift, self.max_scale, generator,
                          self.rotation_interpolation)
        if self.elastic_alpha > 0:
            X = random_elastic(X, self.elastic_alpha, self.elastic_sigma, generator)
        return random_brightness_contrast(X, self.brightness_contrast_p, self.brightness, self.contrast, generator)
