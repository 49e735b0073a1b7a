"""How a pipeline read from disk is set up for a preset's runtime options: fused attention,
fused projections, memory layout, the VAE's decode precision, offload or device, compilation;
and the VAE switches flipped per request on a cached pipeline.

Only the child process imports this module (it imports torch and diffusers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from diffusers.models.attention_processor import AttnProcessor2_0

if TYPE_CHECKING:
    from dreamforge_adapters.sdxl.pipelines import RuntimeOptions

# diffusers is partly untyped; the processor is used through `Any` to keep mypy's checks here.
_Sdpa: Any = AttnProcessor2_0


def _use_sdpa(module: Any) -> None:
    """Makes sure every attention layer uses PyTorch's fused scaled-dot-product attention."""
    processors = getattr(module, "attn_processors", {})
    if any(not isinstance(p, AttnProcessor2_0) for p in processors.values()):
        module.set_attn_processor(_Sdpa())


def decode_in(vae: Any, dtype: torch.dtype) -> None:
    """Makes the VAE decode in `dtype`: its weights cast once, each decode's latents cast on
    the way in, and diffusers' upcast to float32 (meant for fp16) switched off."""
    vae.to(dtype=dtype)
    vae.register_to_config(force_upcast=False)
    decode = vae.decode

    def decode_cast(latents: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        return decode(latents.to(dtype), *args, **kwargs)

    vae.decode = decode_cast


def prepare(pipe: Any, options: RuntimeOptions, device: str) -> Any:
    _use_sdpa(pipe.unet)
    _use_sdpa(pipe.vae)
    if options.vae_dtype is not None:
        decode_in(pipe.vae, options.vae_dtype)
    if options.fuse_qkv:  # after the processors are set: fusing installs its own
        pipe.unet.fuse_qkv_projections()
        pipe.vae.fuse_qkv_projections()
    if options.channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
    if options.cpu_offload:
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    if options.compile_mode:
        import torch._inductor.config as inductor_config

        inductor_config.fx_graph_cache = True  # with TORCHINDUCTOR_CACHE_DIR: survives restarts
        pipe.unet = torch.compile(pipe.unet, mode=options.compile_mode)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def apply_switches(pipe: Any, options: RuntimeOptions) -> None:
    vae = pipe.vae
    if options.vae_tiling:
        vae.enable_tiling()
    else:
        vae.disable_tiling()
    if options.vae_slicing:
        vae.enable_slicing()
    else:
        vae.disable_slicing()
