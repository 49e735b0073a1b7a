"""A tiny, randomly initialised SDXL-shaped model, built offline, for tests and demos.

Why: the real SDXL runner (child process, pipeline cache, scheduler swaps, single-file loading,
progress callbacks) must be exercised end to end on machines without a GPU and without network.
SDXL base is 7 GB; this model has the same component layout (two CLIP text encoders of different
widths, a `text_time` UNet, an 8x VAE) at a few MB, so `StableDiffusionXLPipeline` runs it
unchanged in a fraction of a second per image. Its pictures are noise-like; only their
determinism matters.

The model is built from configs with a fixed torch seed, so two builds are byte-identical and a
build can be checked against the sha256 sums it recorded. Torch and diffusers are imported inside
the functions: the admin CLI may import this module without paying for them.

It is one module because the configs, the seeded build and the recorded checksums describe one
model and must change together.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import ModelLimits

DEMO_ID = "demo-sdxl-tiny"
DEMO_SINGLE_ID = "demo-sdxl-tiny-single"
DEMO_VERSION = "1"
DEMO_SINGLE_FILE_NAME = "demo-sdxl-tiny.safetensors"
DEMO_LIMITS = ModelLimits(
    min_size=64, max_size=512, default_width=128, default_height=128, default_steps=20
)
# Bump when the recipe changes: a folder built by another recipe is then rebuilt, not reused.
RECIPE = 1
MANIFEST_NAME = "dreamforge-demo.json"
UNET_WEIGHTS = "unet/diffusion_pytorch_model.safetensors"
_SEED = 20_240_611
# Distinct widths matter: the single-file loader tells the two text encoders apart by the width
# of their position embeddings, and equal widths make it mis-assign weights without an error.
_HIDDEN_1 = 32
_HIDDEN_2 = 48
_PROJECTION = 32
# Ten layers is the fewest that gives text encoder 2 the key diffusers uses to recognise an SDXL
# base checkpoint (`conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias`).
_LAYERS_1 = 2
_LAYERS_2 = 10
_TIME_DIM = 8
_MAX_TOKENS = 77
_MERGE_WORDS = ("a", "the", "photo", "of", "cat", "dog", "red", "at", "dawn", "light")
_SCHEDULER = {  # scheduler_config.json of stabilityai/stable-diffusion-xl-base-1.0
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}


def sha256_file(path: Path) -> str:
    """Full sha256 of a file, read in chunks so large checkpoints do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_demo_diffusers(dest: Path) -> Path:
    """Writes the tiny pipeline as a diffusers folder at `dest` (replacing what is there).

    The folder loads with `StableDiffusionXLPipeline.from_pretrained(dest, local_files_only=True)`.
    It is assembled in a sibling temporary folder and moved into place, so a crash never leaves a
    half-written model where a loader would look for a whole one.
    """
    components = _components()
    pipe = _diffusers().StableDiffusionXLPipeline(**components, force_zeros_for_empty_prompt=True)
    with _staging(dest) as stage:
        pipe.save_pretrained(stage, safe_serialization=True)
        _write_manifest(stage, _hash_tree(stage))
    return dest


def _components() -> dict[str, Any]:
    """Every pipeline component, each initialised from its own fixed seed.

    The global torch RNG is forked, so building the demo does not disturb a caller's seeding.
    """
    import torch

    tokenizer_1, tokenizer_2 = tokenizers()
    vocab_size = len(tokenizer_1)
    eos = tokenizer_1.convert_tokens_to_ids("<|endoftext|>")
    bos = tokenizer_1.convert_tokens_to_ids("<|startoftext|>")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        text_encoder_1 = _text_encoder(_HIDDEN_1, vocab_size, bos, eos, projection=False)
        torch.manual_seed(_SEED + 1)
        text_encoder_2 = _text_encoder(_HIDDEN_2, vocab_size, bos, eos, projection=True)
        torch.manual_seed(_SEED + 2)
        unet = _unet()
        torch.manual_seed(_SEED + 3)
        vae = _vae()
    return {
        "vae": vae,
        "text_encoder": text_encoder_1,
        "text_encoder_2": text_encoder_2,
        "tokenizer": tokenizer_1,
        "tokenizer_2": tokenizer_2,
        "unet": unet,
        "scheduler": scheduler(),
    }


def _bpe_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary in CLIP's layout: bytes, bytes ending a word, merges, specials.

    Every part of every merge is itself in the vocabulary; the tokenizer rejects merges that
    produce or consume unknown symbols.
    """
    symbols = _byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols]
    merges: list[tuple[str, str]] = []
    for word in _MERGE_WORDS:
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            left, right = parts[0], parts[1]
            merges.append((left, right))
            parts = [left + right, *parts[2:]]
            if parts[0] not in tokens:
                tokens.append(parts[0])
    merges = list(dict.fromkeys(merges))
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-ins for the 256 byte values, in CLIP's vocabulary order."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    kept += range(ord("®"), ord("ÿ") + 1)
    moved = [byte for byte in range(256) if byte not in kept]
    return [chr(byte) for byte in kept] + [chr(256 + n) for n in range(len(moved))]


def tokenizers() -> tuple[Any, Any]:
    """The two CLIP tokenizers of SDXL's layout, on a small byte-level vocabulary."""
    tokenizer_class = _transformers().CLIPTokenizer
    vocab, merges = _bpe_vocab()
    first = tokenizer_class(vocab=dict(vocab), merges=list(merges), model_max_length=_MAX_TOKENS)
    # SDXL base pads its second tokenizer with "!" rather than the end-of-text token.
    second = tokenizer_class(
        vocab=dict(vocab),
        merges=list(merges),
        model_max_length=_MAX_TOKENS,
        pad_token="!",  # noqa: S106 - a token, not a password
    )
    return first, second


def _text_encoder(hidden: int, vocab_size: int, bos: int, eos: int, *, projection: bool) -> Any:
    transformers = _transformers()
    config = transformers.CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=_LAYERS_2 if projection else _LAYERS_1,
        num_attention_heads=4,
        max_position_embeddings=_MAX_TOKENS,
        projection_dim=_PROJECTION,
        hidden_act="gelu" if projection else "quick_gelu",
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    model_class = (
        transformers.CLIPTextModelWithProjection if projection else transformers.CLIPTextModel
    )
    return model_class(config).eval()


def _unet() -> Any:
    return (
        _diffusers()
        .UNet2DConditionModel(
            sample_size=16,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(16, 32, 32),
            layers_per_block=1,
            transformer_layers_per_block=1,
            attention_head_dim=(2, 4, 4),
            norm_num_groups=8,
            cross_attention_dim=_HIDDEN_1 + _HIDDEN_2,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=_TIME_DIM,
            projection_class_embeddings_input_dim=6 * _TIME_DIM + _PROJECTION,
        )
        .eval()
    )


def _vae() -> Any:
    return (
        _diffusers()
        .AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 16, 16, 16),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=8,
            sample_size=128,
            scaling_factor=0.13025,
            force_upcast=False,
        )
        .eval()
    )


def scheduler() -> Any:
    """SDXL base's scheduler."""
    return _diffusers().EulerDiscreteScheduler.from_config(dict(_SCHEDULER))


def _diffusers() -> Any:
    """diffusers, imported late and typed loosely: its annotations disagree with its runtime."""
    import diffusers

    return diffusers


def _transformers() -> Any:
    """transformers, likewise (its tokenizer wants merges as tuples but is annotated as str)."""
    import transformers

    return transformers


# --- files, hashes and the manifest ------------------------------------------------------------


def _hash_tree(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }


def _write_manifest(folder: Path, files: dict[str, str]) -> None:
    """Records what an intact build holds; written last, so its presence means the build ended."""
    manifest = {"recipe": RECIPE, "files": files}
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (folder / MANIFEST_NAME).write_text(text, encoding="utf-8")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of an intact build of the current recipe, or None if anything differs."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("recipe") != RECIPE:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or not files or _hash_tree(folder) != files:
        return None
    return manifest


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A temporary sibling of `dest` that replaces it when the block succeeds.

    A crash mid-build then never leaves a half-written model where a loader would look.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    stage.chmod(0o755)  # mkdtemp makes it owner-only; a worker under another uid must read it
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(stage, dest)


# --- the demo pair ------------------------------------------------------------------------------


def demo_paths(root: Path) -> tuple[Path, Path]:
    """Where `create_demo` puts the folder and the single-file checkpoint under `root`."""
    folder = root / "sdxl-diffusers" / f"{DEMO_ID}@{DEMO_VERSION}"
    single = root / "sdxl-checkpoint" / f"{DEMO_SINGLE_ID}@{DEMO_VERSION}" / DEMO_SINGLE_FILE_NAME
    return folder, single


def create_demo(root: Path, *, now: datetime | None = None) -> list[ModelDescriptor]:
    """Builds (or reuses, when intact) both forms of the demo model and describes them.

    Returns the folder form (`sdxl-diffusers`) first, then the single-file form
    (`sdxl-checkpoint`), whose provenance names the folder as its config path, then the demo's
    LoRA (`sdxl-lora`, see `demo_lora`). A form is rebuilt
    when its manifest is missing, names another recipe, or no longer matches the files.
    """
    from dreamforge_adapters.sdxl.demo_checkpoint import build_demo_single_file
    from dreamforge_adapters.sdxl.demo_lora import create_demo_lora

    folder, single = demo_paths(root)
    rebuilt = read_manifest(folder) is None
    if rebuilt:
        build_demo_diffusers(folder)
    if rebuilt or read_manifest(single.parent) is None:
        shutil.rmtree(single.parent, ignore_errors=True)
        build_demo_single_file(folder, single)
        _write_manifest(single.parent, _hash_tree(single.parent))
    stamp = now or datetime.now(UTC)
    lora = create_demo_lora(root, folder, stamp)
    return [_folder_descriptor(folder, stamp), _single_descriptor(folder, single, stamp), lora]


def demo_descriptor(
    model_id: str,
    kind: str,
    path: Path,
    sha: str,
    stamp: datetime,
    *,
    version: str = DEMO_VERSION,
    limits: ModelLimits = DEMO_LIMITS,
    capability: str = "generate",
) -> ModelDescriptor:
    """An installed, enabled demo build at `path`, its weights' sha256 `sha`."""
    return ModelDescriptor(
        id=model_id,
        name=model_id,
        kind=kind,
        version=version,
        created_at=stamp,
        updated_at=stamp,
        checkpoint_hash=sha,
        source_uri=f"demo:{model_id}",
        local_path=str(path),
        installed=True,
        enabled=True,
        limits=limits,
        capabilities=[capability],
    )


def _folder_descriptor(folder: Path, stamp: datetime) -> ModelDescriptor:
    files = _hash_tree(folder)
    model = demo_descriptor(DEMO_ID, "sdxl-diffusers", folder, files[UNET_WEIGHTS], stamp)
    model.provenance = {"source": "demo", "recipe": RECIPE, "base_model": DEMO_ID, "files": files}
    return model


def _single_descriptor(folder: Path, single: Path, stamp: datetime) -> ModelDescriptor:
    sha = sha256_file(single)
    model = demo_descriptor(DEMO_SINGLE_ID, "sdxl-checkpoint", single, sha, stamp)
    model.provenance = {
        "source": "demo",
        "recipe": RECIPE,
        "base_model": DEMO_ID,
        "config_path": str(folder),
        "files": {single.name: sha},
    }
    return model
