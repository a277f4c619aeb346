"""PNG of a scored bag: reward and success probability over time per camera and instruction, with
thumbnails.

One row of panels per (camera, instruction): the reward curve (left axis) and the success probability
(right axis, 0..1) against bag time, with the camera frame at the reward's highest peaks shown
above the curve, so a reader can see *what* the model rewarded without opening the bag.
Peaks are scipy.signal.find_peaks local maxima (the global maximum always included).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from a2r_core.scoring import ScoreRow

THUMB_HEIGHT = 48  # pixels kept per clip for the plot: ~7 kB a clip at 4:3


def thumbnail(frame: np.ndarray, height: int = THUMB_HEIGHT) -> np.ndarray:
    """A small copy of an RGB frame (area interpolation) for the plot."""
    import cv2

    h, w = frame.shape[:2]
    if h <= height:
        return np.array(frame, copy=True)
    width = max(1, round(w * height / h))
    return cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=cv2.INTER_AREA)


def peak_indices(values: np.ndarray, count: int = 3) -> list[int]:
    """Indices of up to `count` highest local maxima of `values`, the global maximum first."""
    from scipy.signal import find_peaks

    if values.size == 0:
        return []
    peaks, _ = find_peaks(values)
    best = int(np.argmax(values))
    candidates = sorted(set(int(p) for p in peaks) | {best}, key=lambda i: -values[i])
    return sorted(candidates[:count])


def plot_scores(
    rows: Sequence[ScoreRow],
    instructions: Sequence[str],
    thumbnails: Mapping[int, np.ndarray],
    path: str | Path,
    title: str = "",
) -> Path:
    """Write the PNG to `path`; `thumbnails` maps a clip's end stamp (ns) to its newest frame."""
    return plot_camera_scores([("", rows, thumbnails)], instructions, path, title)


def plot_camera_scores(
    cameras: Sequence[tuple[str, Sequence[ScoreRow], Mapping[int, np.ndarray]]],
    instructions: Sequence[str],
    path: str | Path,
    title: str = "",
) -> Path:
    """The PNG of several cameras: one row of panels per (camera, instruction), on one time axis.

    `cameras` holds (topic, rows, thumbnails) per camera; an empty topic name is left out of the
    panel titles (a single camera named in the figure title instead).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    t0 = min((r.stamp_ns for _, rows, _ in cameras for r in rows), default=0)
    panels = [(topic, rows, thumbs, text) for topic, rows, thumbs in cameras for text in instructions]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.6 * len(panels)), squeeze=False)
    for ax, (topic, rows, thumbs, text) in zip(axes[:, 0], panels):
        _panel(ax, [r for r in rows if r.instruction == text], thumbs, t0,
               f'{topic}  "{text}"' if topic else f'"{text}"')
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _panel(ax, mine: Sequence[ScoreRow], thumbnails: Mapping[int, np.ndarray], t0: int, heading: str) -> None:
    """Reward (left axis) and success probability (right axis) of one camera and instruction."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    times = np.array([(r.stamp_ns - t0) / 1e9 for r in mine])
    reward = np.array([r.reward for r in mine], dtype=np.float64)
    success = np.array([r.success_probability for r in mine], dtype=np.float64)
    ax.set_title(heading, fontsize=10)
    ax.set_xlabel("bag time of the clip's newest frame [s]")
    ax.set_ylabel("reward", color="tab:blue")
    if not mine:
        ax.text(0.5, 0.5, "no clip scored", transform=ax.transAxes, ha="center")
        return
    ax.plot(times, reward, color="tab:blue", marker=".", lw=1.2, label="reward")
    ax2 = ax.twinx()
    ax2.plot(times, success, color="tab:orange", lw=1.0, alpha=0.8, label="success probability")
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_ylabel("success probability", color="tab:orange")
    span = float(reward.max() - reward.min()) or 1.0
    ax.set_ylim(reward.min() - 0.1 * span, reward.max() + 0.9 * span)  # room for thumbnails
    for i in peak_indices(reward):
        thumb = thumbnails.get(mine[i].stamp_ns)
        ax.plot(times[i], reward[i], "v", color="tab:red")
        if thumb is None:
            continue
        box = AnnotationBbox(
            OffsetImage(thumb, zoom=1.0),
            (times[i], reward[i]),
            xybox=(0, 42),
            xycoords="data",
            boxcoords="offset points",
            arrowprops={"arrowstyle": "-", "color": "tab:red"},
            pad=0.2,
        )
        ax.add_artist(box)
    lines = ax.get_lines()[:1] + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="lower right", fontsize=8)
