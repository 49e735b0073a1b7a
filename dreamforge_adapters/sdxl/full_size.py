"""A full-size SDXL base with random weights, built in code: what `dreamforge bench gpu` times.

Why: speed and memory depend on the shapes, not on the values, and a machine that runs the
benchmark may reach no network. The shapes are those of stabilityai/stable-diffusion-xl-base-1.0
(UNet 2.6 B parameters, the two text encoders CLIP ViT-L and OpenCLIP bigG, the 8x VAE with its
fp32 upcast). The tokenizers are the demo model's small vocabulary: every prompt still pads to 77
tokens, so the text encoders do the same work. The pictures are noise.

Weights are created on the target device in the target precision (no 10 GB float32 copy in
host memory) from a fixed seed, and written as a diffusers folder that the project's loaders read
like any installed model. Torch and diffusers are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dreamforge_adapters.sdxl.demo_model import scheduler, tokenizers

FULL_SIZE_ID = "bench-sdxl-full-size"
_SEED = 20_261_206
_VOCAB = 49_408
_TOKENS = 77


def build_full_size(dest: Path, *, device: str, dtype_name: str = "float16") -> Path:
    """Writes the model as a diffusers folder at `dest` and returns it."""
    import diffusers as typed_diffusers
    import torch

    diffusers: Any = typed_diffusers  # partly untyped; its annotations disagree with its runtime

    dtype = getattr(torch, dtype_name)
    tokenizer_1, tokenizer_2 = tokenizers()
    eos = tokenizer_1.convert_tokens_to_ids("<|endoftext|>")
    bos = tokenizer_1.convert_tokens_to_ids("<|startoftext|>")
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(dtype)
        with torch.device(device), torch.random.fork_rng(devices=[]):
            torch.manual_seed(_SEED)
            components = {
                "text_encoder": _text_encoder(768, 3072, 12, 12, bos, eos, projection=False),
                "text_encoder_2": _text_encoder(1280, 5120, 32, 20, bos, eos, projection=True),
                "unet": _unet(diffusers),
                "vae": _vae(diffusers),
            }
    finally:
        torch.set_default_dtype(previous)
    pipe = diffusers.StableDiffusionXLPipeline(
        **components,
        tokenizer=tokenizer_1,
        tokenizer_2=tokenizer_2,
        scheduler=scheduler(),
        force_zeros_for_empty_prompt=True,
    )
    dest.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(dest, safe_serialization=True)
    del pipe, components
    return dest


def _text_encoder(
    hidden: int, inner: int, layers: int, heads: int, bos: int, eos: int, *, projection: bool
) -> Any:
    import transformers

    config = transformers.CLIPTextConfig(
        vocab_size=_VOCAB,
        hidden_size=hidden,
        intermediate_size=inner,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=_TOKENS,
        projection_dim=hidden,
        hidden_act="gelu" if projection else "quick_gelu",
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    model: Any = (
        transformers.CLIPTextModelWithProjection if projection else transformers.CLIPTextModel
    )
    return model(config).eval()


def _unet(diffusers: Any) -> Any:
    return diffusers.UNet2DConditionModel(
        sample_size=128,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(320, 640, 1280),
        layers_per_block=2,
        transformer_layers_per_block=(1, 2, 10),
        attention_head_dim=(5, 10, 20),
        cross_attention_dim=2048,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    ).eval()


def _vae(diffusers: Any) -> Any:
    return diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=1024,
        scaling_factor=0.13025,
        force_upcast=True,  # as the stock SDXL VAE: it decodes in float32
    ).eval()
