"""The Adapt2Reward model: config, preprocessing, backbones, failure prompts, module, checkpoints.

See docs/model.md. Importing this package imports torch but not transformers; backbones load
transformers when they are built.
"""

from .backbones import VideoTextBackbone, available_backbones, build_backbone, register_backbone
from .checkpoint import load_checkpoint, save_checkpoint
from .configuration_a2r import A2RConfig, normalize_instruction
from .modeling_a2r import Adapt2Reward, SuccessHead, count_parameters
from .preprocess import preprocess_clips, uniform_frame_indices
from .prompts import FailurePromptPool

__all__ = [
    "A2RConfig",
    "Adapt2Reward",
    "FailurePromptPool",
    "SuccessHead",
    "VideoTextBackbone",
    "available_backbones",
    "build_backbone",
    "count_parameters",
    "load_checkpoint",
    "normalize_instruction",
    "preprocess_clips",
    "register_backbone",
    "save_checkpoint",
    "uniform_frame_indices",
]
