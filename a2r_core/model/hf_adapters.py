"""transformers X-CLIP and CLIP behind `VideoTextBackbone`.

- "xclip": `XCLIPModel.get_video_features` (per-frame ViT + cross-frame communication + the
  multi-frame integration transformer) and its text tower. X-CLIP's video-conditioned text prompt
  generator is NOT used: the reward needs text features that do not depend on the clip, so that
  instruction and failure-text features can be cached and compared with any clip.
- "clip": `CLIPModel` image features of each frame, L2-normalised, averaged over the frames and
  re-normalised (the CLIP4Clip "mean pooling" video baseline).

Both load with `from_pretrained(config.backbone_path)` (a hub id, resolved from the local cache
when offline, or a local directory). A checkpoint stores the transformers config, the tokenizer
and the image mean/std under `backbone/` and every weight in model.safetensors, so it loads
without the original `backbone_path`.

The text encoder is re-run here from token embeddings (embeddings -> causal encoder -> final layer
norm -> the hidden state of the last non-padding token, which is the EOS token -> projection), so
failure prompts can be spliced in. For plain tokenised text this equals `get_text_features`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from a2r_core.errors import ConfigError

from .backbones import VideoTextBackbone, l2n, register_backbone
from .configuration_a2r import A2RConfig

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
ASSET_PREPROCESSOR = "preprocessor_config.json"


def _image_stats(source: str | Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """image_mean/image_std from a preprocessor_config.json next to the model, else CLIP's."""
    try:
        from transformers.utils import cached_file

        path = cached_file(str(source), ASSET_PREPROCESSOR, _raise_exceptions_for_missing_entries=False)
        if path:
            data = json.loads(Path(path).read_text())
            mean, std = data.get("image_mean"), data.get("image_std")
            if isinstance(mean, list) and isinstance(std, list) and len(mean) == 3 and len(std) == 3:
                return tuple(float(x) for x in mean), tuple(float(x) for x in std)
    except (OSError, ValueError):
        pass
    return CLIP_MEAN, CLIP_STD


class HFDualEncoder(VideoTextBackbone):
    """Shared code of the CLIP-family adapters; subclasses choose the class and `encode_video`."""

    model_class_name: str
    config_class_name: str

    def __init__(self, config: A2RConfig, assets_dir: Path | None) -> None:
        super().__init__(config)
        import transformers
        from transformers import AutoTokenizer

        model_cls = getattr(transformers, self.model_class_name)
        config_cls = getattr(transformers, self.config_class_name)
        source = str(assets_dir) if assets_dir is not None else str(config.backbone_path)
        try:
            if assets_dir is None:
                self.hf = model_cls.from_pretrained(source)
            else:  # architecture only: the checkpoint's model.safetensors holds every weight
                self.hf = model_cls(config_cls.from_pretrained(source))
            self.tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model.backbone_path: cannot load {self.model_class_name} "
                              f"from {source!r}: {exc}") from exc
        self.image_mean, self.image_std = _image_stats(source)
        hf_cfg = self.hf.config
        self.embed_dim = int(hf_cfg.projection_dim)
        self.text_width = int(hf_cfg.text_config.hidden_size)
        self.image_size = int(hf_cfg.vision_config.image_size)
        self.num_frames = int(getattr(hf_cfg.vision_config, "num_frames", config.num_frames))
        self.max_text_tokens = int(hf_cfg.text_config.max_position_embeddings)
        self.freeze_text = config.freeze_text
        if self.freeze_text:
            self.hf.text_model.requires_grad_(False)
            self.hf.text_projection.requires_grad_(False)
            self.hf.text_model.eval()

    def train(self, mode: bool = True) -> "HFDualEncoder":
        super().train(mode)
        if self.freeze_text:
            self.hf.text_model.eval()
        return self

    def save_assets(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.hf.config.save_pretrained(str(directory))
        self.tokenizer.save_pretrained(str(directory))
        (directory / ASSET_PREPROCESSOR).write_text(
            json.dumps({"image_mean": list(self.image_mean), "image_std": list(self.image_std)}, indent=2))

    def _tokenize(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def token_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.hf.text_model.embeddings.token_embedding(input_ids)

    def encode_token_embeddings(self, embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        from transformers.masking_utils import create_causal_mask

        tm = self.hf.text_model
        hidden = tm.embeddings(inputs_embeds=embeds)
        mask = create_causal_mask(config=tm.config, inputs_embeds=hidden, attention_mask=attention_mask, cache=None)
        hidden = tm.encoder(inputs_embeds=hidden, attention_mask=mask, is_causal=True).last_hidden_state
        hidden = tm.final_layer_norm(hidden)
        last = attention_mask.long().sum(1) - 1  # right padding: the EOS token is the last real one
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        return l2n(self.hf.text_projection(pooled))


class XCLIPBackbone(HFDualEncoder):
    model_class_name = "XCLIPModel"
    config_class_name = "XCLIPConfig"

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        return l2n(self.hf.get_video_features(pixel_values=video).pooler_output)


class CLIPBackbone(HFDualEncoder):
    model_class_name = "CLIPModel"
    config_class_name = "CLIPConfig"

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        b, t = video.shape[:2]
        frames = self.hf.get_image_features(pixel_values=video.flatten(0, 1)).pooler_output
        return l2n(l2n(frames).view(b, t, -1).mean(1))


@register_backbone("xclip")
def _build_xclip(config: A2RConfig, assets_dir: Path | None) -> VideoTextBackbone:
    return XCLIPBackbone(config, assets_dir)


@register_backbone("clip")
def _build_clip(config: A2RConfig, assets_dir: Path | None) -> VideoTextBackbone:
    return CLIPBackbone(config, assets_dir)


__all__ = ["XCLIPBackbone", "CLIPBackbone", "HFDualEncoder"]
