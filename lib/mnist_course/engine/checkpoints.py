"""Saving and loading model weights (``state_dict`` files) safely.

Loading uses ``torch.load(..., weights_only=True)``, which refuses pickled code, and
turns PyTorch's long errors into one message naming the file and the mismatch.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from torch import nn

from .paths import atomic_write_bytes

# The committed weights of recorded models (``<name>.pt`` with its record ``<name>.json``),
# which ``mnist-course predict --weights <name>`` loads.
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model.state_dict()`` to ``path`` atomically; returns the path."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a ``state_dict`` file saved by :func:`save_weights` into ``model`` (on the CPU,
    then wherever the model is). Returns the model.

    Raises FileNotFoundError if ``path`` does not exist; ValueError naming the file when
    it is not a state_dict checkpoint, or when its tensors do not fit ``model`` (missing,
    unexpected or differently shaped entries are listed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, truncated, or holds code
        raise ValueError(f"{path} is not a readable state_dict checkpoint ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a state_dict checkpoint: it holds {type(state).__name__}, "
                         f"not a dict of tensors")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append(f"shape mismatch {'; '.join(shapes[:5])}")
        raise ValueError(f"checkpoint {path} does not fit {type(model).__name__}: {'; '.join(parts)}")
    model.load_state_dict(state)
    return model
