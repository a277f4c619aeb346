"""Training-time augmentations on uint8 clips [T, H, W, 3].

Why these: the reward must not depend on framing, colours, lighting or clutter, so training jitters
scale, crop position, aspect and colour, and can (opt-in, for training on one environment and
deploying in others) cast colours per channel, rotate hue, drop colour, and paste static
"distractor" patches. There is NO horizontal flip: instructions such as "push the puck to the
left" change meaning under a flip. Normalisation to the backbone's mean/std is the
model's preprocessing, so datasets stay backbone-agnostic and yield uint8.

One random draw per clip (not per frame): the same crop and colour change apply to every frame, so
motion is preserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from a2r_core.errors import ConfigError, InputError


def _check(frames: torch.Tensor) -> torch.Tensor:
    if frames.dim() != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
        raise InputError(f"expected uint8 frames [T, H, W, 3], got {tuple(frames.shape)} {frames.dtype}")
    return frames


def _resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float [T, 3, height, width] (antialiased bilinear)."""
    x = frames.permute(0, 3, 1, 2).float()
    if x.shape[-2:] == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


@dataclass(frozen=True)
class EvalTransform:
    """Resize the shorter side to `size` and centre-crop a `size` x `size` square."""

    size: int = 112

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 1024:
            raise ConfigError(f"transform size must be in [8, 1024], got {self.size}")

    def __call__(self, frames: torch.Tensor, rng: Optional[np.random.Generator] = None) -> torch.Tensor:
        frames = _check(frames)
        h, w = frames.shape[1:3]
        scale = self.size / min(h, w)
        nh, nw = max(self.size, round(h * scale)), max(self.size, round(w * scale))
        x = _resize(frames, nh, nw)
        top, left = (nh - self.size) // 2, (nw - self.size) // 2
        return _to_uint8(x[..., top:top + self.size, left:left + self.size])


@dataclass(frozen=True)
class TrainTransform:
    """Random-resized crop (area fraction in `scale`, aspect in `ratio`) to `size` x `size`, then
    brightness/contrast/saturation each scaled by a factor in [1 - j, 1 + j].

    Opt-in (0 = off), for generalising from one training environment to new looks:
    `channel_gain` scales each colour channel by its own factor in [1 - g, 1 + g] (tinted light,
    other table colours); `hue` rotates hue by an angle in [-hue, hue] turns; `grayscale_p` is the
    chance to drop colour; `patches` pastes up to that many solid-colour rectangles (each side 6-16 %
    of the image) at fixed places in every frame: static clutter the reward must ignore.
    """

    size: int = 112
    scale: tuple[float, float] = (0.7, 1.0)
    ratio: tuple[float, float] = (0.85, 1.18)
    brightness: float = 0.15
    contrast: float = 0.15
    saturation: float = 0.15
    channel_gain: float = 0.0
    hue: float = 0.0
    grayscale_p: float = 0.0
    patches: int = 0

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 1024:
            raise ConfigError(f"transform size must be in [8, 1024], got {self.size}")
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ConfigError(f"scale must satisfy 0 < low <= high <= 1, got {self.scale}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ConfigError(f"ratio must satisfy 0 < low <= high, got {self.ratio}")
        for name in ("brightness", "contrast", "saturation", "channel_gain"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} jitter must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.hue <= 0.5:
            raise ConfigError(f"hue must be in [0, 0.5] turns, got {self.hue}")
        if not 0 <= self.grayscale_p <= 1:
            raise ConfigError(f"grayscale_p must be in [0, 1], got {self.grayscale_p}")
        if not isinstance(self.patches, int) or not 0 <= self.patches <= 16:
            raise ConfigError(f"patches must be an int in [0, 16], got {self.patches!r}")

    def eval_transform(self) -> EvalTransform:
        """What evaluation sees instead: the centre crop at the same size, no jitter."""
        return EvalTransform(self.size)

    def crop_box(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """(top, left, crop height, crop width) of one random-resized crop."""
        area = height * width * rng.uniform(*self.scale)
        aspect = float(np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1]))))
        ch = int(min(height, max(1, round(np.sqrt(area / aspect)))))
        cw = int(min(width, max(1, round(np.sqrt(area * aspect)))))
        top = int(rng.integers(0, height - ch + 1))
        left = int(rng.integers(0, width - cw + 1))
        return top, left, ch, cw

    def __call__(self, frames: torch.Tensor, rng: Optional[np.random.Generator] = None) -> torch.Tensor:
        frames = _check(frames)
        rng = rng if rng is not None else np.random.default_rng()
        top, left, ch, cw = self.crop_box(frames.shape[1], frames.shape[2], rng)
        x = _resize(frames[:, top:top + ch, left:left + cw], self.size, self.size)
        b, c, s = (rng.uniform(1 - j, 1 + j) for j in (self.brightness, self.contrast, self.saturation))
        x = x * b
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * c + mean
        gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
        x = (x - gray) * s + gray
        if self.channel_gain:
            gains = rng.uniform(1 - self.channel_gain, 1 + self.channel_gain, size=3)
            x = x * torch.as_tensor(gains, dtype=x.dtype).view(1, 3, 1, 1)
        if self.hue:
            x = torch.einsum("ij,tjhw->tihw", _hue_rotation(rng.uniform(-self.hue, self.hue)), x)
        if self.grayscale_p and rng.random() < self.grayscale_p:
            x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand(-1, 3, -1, -1)
        if self.patches:
            x = _paste_patches(x, int(rng.integers(0, self.patches + 1)), rng)
        return _to_uint8(x)


def _hue_rotation(turns: float) -> torch.Tensor:
    """3x3 RGB matrix rotating hue by `turns` about the grey axis (YIQ rotation): luma is kept."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    angle = 2 * np.pi * turns
    rot = torch.tensor([[1.0, 0.0, 0.0], [0.0, np.cos(angle), -np.sin(angle)], [0.0, np.sin(angle), np.cos(angle)]],
                       dtype=torch.float32)
    return torch.linalg.inv(to_yiq) @ rot @ to_yiq


def _paste_patches(x: torch.Tensor, count: int, rng: np.random.Generator) -> torch.Tensor:
    """Paint `count` solid-colour rectangles at the same place in every frame of x [T, 3, S, S]."""
    if count == 0:
        return x
    x = x.clone()
    side = x.shape[-1]
    for _ in range(count):
        h, w = (int(round(side * rng.uniform(0.06, 0.16))) for _ in range(2))
        top, left = int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1))
        x[:, :, top:top + h, left:left + w] = torch.as_tensor(rng.uniform(0, 255, size=3),
                                                              dtype=x.dtype).view(1, 3, 1, 1)
    return x
