"""`VideoTextBackbone`: the one interface every video-language encoder is used through, + registry.

Why text from token embeddings: failure prompts are learnable token vectors that are spliced into an
instruction's token sequence and run through the text encoder (CoOp-style), so every backbone must
encode text both from strings and from `(token embeddings, attention mask)`. The base class does the
splicing once (`encode_text_with_prompts`); a backbone implements tokenisation, token embedding, the
encoder over embeddings, and the video encoder.

Backbones are registered by name (`register_backbone`) and built from an `A2RConfig` with
`build_backbone(config, assets_dir)`: `assets_dir` is None for a fresh model (pretrained weights are
loaded from `backbone_path` / the MiniLM package) and a checkpoint's `backbone/` folder when loading,
in which case only the architecture is rebuilt and the weights come from model.safetensors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from a2r_core.errors import ConfigError

from .configuration_a2r import A2RConfig


class VideoTextBackbone(nn.Module, ABC):
    """Dual encoder: clips -> [B, D] and texts (or token embeddings) -> [N, D], both L2-normalised.

    Attributes every backbone sets: `embed_dim` (D), `text_width` (E, the token-embedding width the
    failure prompts live in), `image_size`, `num_frames`, `image_mean`/`image_std` (per channel, in
    [0, 1] units) and `max_text_tokens` (token positions available per text, prompts included).
    """

    embed_dim: int
    text_width: int
    image_size: int
    num_frames: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    max_text_tokens: int

    def __init__(self, config: A2RConfig) -> None:
        super().__init__()
        self.prompt_length = config.prompt_length if config.num_failure_prompts > 0 else 0
        self.max_text_length = config.max_text_length

    # ---- what a backbone implements -------------------------------------------------------------
    @abstractmethod
    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """[B, T, 3, S, S] preprocessed float -> [B, D], L2-normalised."""

    @abstractmethod
    def _tokenize(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> (input_ids [N, L], attention_mask [N, L]), right-padded, first token BOS/CLS."""

    @abstractmethod
    def token_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        """input_ids [N, L] -> word embeddings [N, L, E] (no position embedding yet)."""

    @abstractmethod
    def encode_token_embeddings(self, embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Word embeddings [N, L, E] + mask [N, L] -> [N, D], L2-normalised."""

    def save_assets(self, directory: Path) -> None:
        """Write what rebuilding the architecture needs (configs, tokenizer) into `directory`."""

    def non_persistent_prefixes(self) -> tuple[str, ...]:
        """State-dict key prefixes (relative to the backbone) NOT stored in checkpoints, because
        they are reloaded from an installed package (the frozen MiniLM text encoder)."""
        return ()

    # ---- shared --------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenise leaving room for the failure prompts, so an instruction's tokens are the same
        with and without prompts (long instructions are truncated identically)."""
        max_length = max(3, min(self.max_text_length, self.max_text_tokens - self.prompt_length))
        ids, mask = self._tokenize(list(texts), max_length)
        return ids.to(self.device), mask.to(self.device)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Strings -> [N, D], L2-normalised."""
        ids, mask = self.tokenize(texts)
        return self.encode_token_embeddings(self.token_embeddings(ids), mask)

    def sentence_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Strings -> [N, E], L2-normalised: the text encoder's own sentence embedding, before any
        layer a2r trains. Used to tell which trained instruction a new one paraphrases
        (`a2r_core.instructions.InstructionResolver`): a pretrained sentence encoder keeps the
        meaning of words the reward's few training instructions never contained. Backbones
        without a separate one fall back to `encode_text`."""
        with torch.no_grad():
            return self.encode_text(texts)

    def encode_text_with_prompts(self, prompts: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """prompts [N, L_p, E] spliced in after each text's first (CLS/BOS) token -> [N, D].

        Gradients flow to `prompts` through the text encoder even when its weights are frozen.
        """
        if prompts.ndim != 3 or prompts.shape[0] != len(texts) or prompts.shape[2] != self.text_width:
            raise ValueError(f"prompts must be [N={len(texts)}, L_p, {self.text_width}], got {list(prompts.shape)}")
        ids, mask = self.tokenize(texts)
        emb = self.token_embeddings(ids)
        prompts = prompts.to(emb.dtype)
        embeds = torch.cat([emb[:, :1], prompts, emb[:, 1:]], dim=1)
        ones = torch.ones(mask.shape[0], prompts.shape[1], dtype=mask.dtype, device=mask.device)
        mask = torch.cat([mask[:, :1], ones, mask[:, 1:]], dim=1)
        return self.encode_token_embeddings(embeds, mask)


BackboneFactory = Callable[[A2RConfig, "Path | None"], VideoTextBackbone]
_REGISTRY: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator: make `factory(config, assets_dir)` buildable as `config.backbone == name`."""

    def deco(factory: BackboneFactory) -> BackboneFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def available_backbones() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def build_backbone(config: A2RConfig, assets_dir: Path | None = None) -> VideoTextBackbone:
    """Backbone named by `config.backbone` (see module docstring for `assets_dir`)."""
    _load_builtin()
    try:
        factory = _REGISTRY[config.backbone]
    except KeyError:
        raise ConfigError(f"model.backbone: unknown backbone {config.backbone!r}; "
                          f"available: {', '.join(sorted(_REGISTRY))}") from None
    return factory(config, assets_dir)


def _load_builtin() -> None:
    # Imported lazily: the modules register themselves and pull in transformers.
    from . import hf_adapters, small  # noqa: F401


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the sequence of `hidden` [N, L, E] where `mask` [N, L] is 1 (sentence-BERT pooling)."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)


def l2n(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)
