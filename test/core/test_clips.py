"""The one clip rule (a2r_core.clips): the trainer's, the planner's and the model's clips agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from a2r_core.clips import candidate_clip, candidate_future_steps, clip_indices, prefix_clip, rewound_clip, thin
from a2r_core.errors import InputError
from a2r_core.model.preprocess import uniform_frame_indices


def _frames(n: int) -> np.ndarray:
    """n distinguishable 2x2 frames: frame i is filled with the value i."""
    return np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], 4, axis=1).reshape(n, 2, 2, 1).repeat(3, -1)


def test_clip_indices_keep_first_and_last_and_are_even():
    assert clip_indices(16, 8).tolist() == [0, 2, 4, 6, 9, 11, 13, 15]
    assert clip_indices(3, 8).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]  # short clips repeat frames
    assert clip_indices(5, 1).tolist() == [4]                       # one frame: the newest
    assert clip_indices(5, None).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(InputError):
        clip_indices(0, 8)


def test_the_model_samples_frames_by_the_same_rule():
    for n in (1, 3, 8, 9, 16, 41):
        assert torch.equal(uniform_frame_indices(n, 8), torch.from_numpy(clip_indices(n, 8)))


def test_prefix_and_rewound_clips():
    f = _frames(16)
    assert prefix_clip(f, 3, 8)[:, 0, 0, 0].tolist() == [0, 1, 2, 3]        # short: not padded here
    assert prefix_clip(f, 15, 8)[:, 0, 0, 0].tolist() == clip_indices(16, 8).tolist()
    rw = rewound_clip(f, 5, 2, None)[:, 0, 0, 0].tolist()
    assert rw == [0, 1, 2, 3, 4, 5, 4, 3, 2]                                # forward, then back to 2
    assert rewound_clip(f, 10, 0, 8)[-1, 0, 0, 0] == 0                      # ends where it was rewound to
    with pytest.raises(InputError):
        rewound_clip(f, 3, 3, 8)


@pytest.mark.parametrize("history,horizon,frames", [(1, 8, 8), (10, 8, 8), (30, 8, 8), (3, 4, 8), (5, 8, None)])
def test_a_candidate_clip_is_the_thinned_attempt_with_only_the_kept_future_rendered(history, horizon, frames):
    hist, future = _frames(history), _frames(history + horizon)[history:]
    steps = candidate_future_steps(history, horizon, frames)
    clip = candidate_clip(hist, future[steps], steps, horizon, frames)
    whole = thin(np.concatenate([hist, future]), frames)
    assert np.array_equal(clip, whole)
    assert steps[-1] == horizon - 1                                         # the outcome is always seen
    batched = candidate_clip(hist, np.stack([future[steps]] * 3), steps, horizon, frames)
    assert batched.shape == (3, *whole.shape) and np.array_equal(batched[2], whole)
    if frames is not None and history > 2 * frames:
        assert len(steps) < horizon                                         # most future frames are skipped
