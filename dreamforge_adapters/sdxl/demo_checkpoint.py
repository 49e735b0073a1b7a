"""The demo model as ONE original-layout (sgm/ldm) SDXL `.safetensors` file, CivitAI style.

Why: most SDXL models in the wild are single files in Stability's original key layout, loaded with
`StableDiffusionXLPipeline.from_single_file(..., config=<diffusers folder>)`. That path has its own
key conversion and component detection, so it needs its own fixture. The file is produced by
inverting the mapping diffusers applies when it reads such a file
(`diffusers/loaders/single_file_utils.py`: `convert_ldm_unet_checkpoint`,
`convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint`, `convert_open_clip_checkpoint`), so
loading it yields exactly the folder's tensors and therefore the folder's pixels.

Layout of the file (prefixes as in `sd_xl_base_1.0.safetensors`):
  model.diffusion_model.*                 UNet (input_blocks / middle_block / output_blocks)
  first_stage_model.*                     VAE (encoder.down.N.block.M, decoder.up.N, mid.attn_1)
  conditioner.embedders.0.transformer.*   text encoder 1, Hugging Face CLIP names
  conditioner.embedders.1.model.*         text encoder 2, OpenCLIP names (fused in_proj)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "conditioner.embedders.0.transformer."
OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."
# One key only: safetensors writes the metadata map in hash order, which changes from process to
# process, so any second key (a `modelspec.*` title, say) would make rebuilds differ byte-wise.
METADATA = {"format": "pt"}

_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
_OPEN_CLIP_LAYER = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}


def build_demo_single_file(folder: Path, dest_file: Path) -> Path:
    """Writes the weights of the diffusers `folder` as one original-layout checkpoint.

    The file is written under a temporary name and renamed, so a reader never sees half of it.
    Identical folders give byte-identical files (keys sorted, fixed metadata).
    """
    from safetensors.torch import save_file

    tensors = original_layout(folder)
    dest_file.parent.mkdir(parents=True, exist_ok=True)
    partial = dest_file.with_name(dest_file.name + ".partial")
    save_file({key: tensors[key] for key in sorted(tensors)}, str(partial), metadata=METADATA)
    partial.replace(dest_file)
    return dest_file


def original_layout(folder: Path) -> dict[str, Any]:
    """All four components of `folder`, renamed (and reshaped) into the sgm/ldm layout."""
    from safetensors.torch import load_file

    def weights(name: str, file: str) -> dict[str, Any]:
        return load_file(str(folder / name / file))

    unet_config = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    vae_config = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    unet = weights("unet", "diffusion_pytorch_model.safetensors")
    out |= {UNET_PREFIX + k: v for k, v in unet_to_original(unet, unet_config).items()}
    vae = weights("vae", "diffusion_pytorch_model.safetensors")
    out |= {VAE_PREFIX + k: v for k, v in vae_to_original(vae, vae_config).items()}
    clip = weights("text_encoder", "model.safetensors")
    out |= {CLIP_PREFIX + k: v for k, v in clip_to_original(clip).items()}
    open_clip = weights("text_encoder_2", "model.safetensors")
    out |= {OPEN_CLIP_PREFIX + k: v for k, v in open_clip_to_original(open_clip).items()}
    return out


def _diffusers_mapping() -> Any:
    """diffusers' own diffusers-name → ldm-name table for the layers it maps one to one."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    return DIFFUSERS_TO_LDM_MAPPING


# --- UNet ---------------------------------------------------------------------------------------


def unet_to_original(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Diffusers UNet2DConditionModel keys → ldm `openaimodel.UNetModel` keys.

    ldm numbers blocks flatly: input_blocks.0 is conv_in, then per level `layers_per_block`
    (resnet, attention) pairs and a downsampler; output_blocks hold `layers_per_block + 1`
    entries per level, the upsampler sitting after the attention when there is one.
    """
    tables = _diffusers_mapping()["unet"]
    fixed = {**tables["layers"], **tables["addition_embed_type"]}
    per_level = int(config["layers_per_block"]) + 1
    attended = [bool(re.match("CrossAttn", t)) for t in config["up_block_types"]]
    out = {}
    for key, value in state.items():
        out[fixed.get(key) or _unet_key(key, per_level, attended)] = value
    return out


def _unet_key(key: str, per_level: int, up_attended: list[bool]) -> str:
    if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        level, kind, index, rest = int(m[1]), m[2], int(m[3]), m[4]
        return f"input_blocks.{1 + level * per_level + index}.{_unet_part(kind, rest)}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{(int(m[1]) + 1) * per_level}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)", key):
        slot = 2 * int(m[2]) + (1 if m[1] == "attentions" else 0)
        return f"middle_block.{slot}.{_unet_part(m[1], m[3])[2:]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        level, kind, index, rest = int(m[1]), m[2], int(m[3]), m[4]
        return f"output_blocks.{level * per_level + index}.{_unet_part(kind, rest)}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        level = int(m[1])
        slot = 2 if up_attended[level] else 1
        return f"output_blocks.{level * per_level + per_level - 1}.{slot}.conv.{m[2]}"
    raise ValueError(f"no original-layout name for UNet key {key!r}")


def _unet_part(kind: str, rest: str) -> str:
    """`0.<resnet names>` or `1.<attention names>` inside one flat ldm block."""
    if kind == "attentions":
        return f"1.{rest}"
    layer, _, leaf = rest.rpartition(".")
    return f"0.{_UNET_RESNET.get(layer, layer)}.{leaf}"


# --- VAE ----------------------------------------------------------------------------------------


def vae_to_original(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Diffusers AutoencoderKL keys → ldm `AutoencoderKL` keys.

    The decoder's levels are numbered in reverse in ldm (up.0 is the highest resolution), and the
    mid-block attention is made of 1x1 convolutions there rather than linear layers.
    """
    fixed = _diffusers_mapping()["vae"]
    levels = len(config["up_block_types"])
    out = {}
    for key, value in state.items():
        if key in fixed:
            out[fixed[key]] = value
            continue
        name = _vae_key(key, levels)
        is_attention_weight = ".attn_1." in name and name.endswith(".weight") and value.ndim == 2
        out[name] = value[:, :, None, None].contiguous() if is_attention_weight else value
    return out


def _vae_key(key: str, levels: int) -> str:
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}.{_vae_resnet(m[3])}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{_vae_resnet(m[3])}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        return f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{_vae_resnet(m[3])}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
        return f"{m[1]}.mid.attn_1.{_VAE_ATTENTION[m[2]]}.{m[3]}"
    raise ValueError(f"no original-layout name for VAE key {key!r}")


def _vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut", "nin_shortcut")


# --- text encoders ------------------------------------------------------------------------------


def clip_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """CLIP-L keeps Hugging Face names in SDXL files, under `text_model.`.

    transformers ≥ 5.6 saves `CLIPTextModel` without the `text_model.` level; the original layout
    (and diffusers' reader) expects it, so it is put back.
    """
    return {
        key if key.startswith("text_model.") else f"text_model.{key}": value
        for key, value in state.items()
    }


def open_clip_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """Hugging Face `CLIPTextModelWithProjection` keys → OpenCLIP `TextTransformer` keys.

    OpenCLIP fuses q, k and v into one `in_proj` and stores the projection as a plain matrix
    applied as `x @ text_projection`, i.e. the transpose of the Linear weight.
    """
    import torch

    fixed = {
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
    }
    out: dict[str, Any] = {"text_projection": state["text_projection.weight"].T.contiguous()}
    fused: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        if key in fixed:
            out[fixed[key]] = value
            continue
        if key == "text_projection.weight":
            continue
        m = re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", key)
        if m is None:
            raise ValueError(f"no original-layout name for text encoder 2 key {key!r}")
        layer, part, leaf = m[1], m[2], m[3]
        if qkv := re.fullmatch(r"self_attn\.([qkv])_proj", part):
            fused.setdefault(f"transformer.resblocks.{layer}.attn.in_proj_{leaf}", {})[qkv[1]] = (
                value
            )
            continue
        out[f"transformer.resblocks.{layer}.{_OPEN_CLIP_LAYER[part]}.{leaf}"] = value
    for name, parts in fused.items():
        out[name] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0).contiguous()
    return out
