"""Loading SDXL pipelines from disk and keeping the last few in memory.

Loading costs seconds to minutes; keeping the pipeline lets every job after the first on a
model start at once. Only options that change the loaded object (precision, memory layout,
compilation, offload) are part of the cache key; the VAE tiling and slicing switches are
flipped on the cached object per request. Models load only from local paths: a single-file
checkpoint needs its config folder, because without one diffusers guesses the type and asks
the hub.

Only the child process imports this module (it imports torch and diffusers).
"""

from __future__ import annotations

import gc
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionXLPipeline

from dreamforge_adapters.sdxl.pipeline_setup import apply_switches, prepare
from dreamforge_adapters.sdxl.protocol import ModelSpec

# diffusers is partly untyped; the pipeline class is used through `Any` to keep mypy's checks.
_Pipeline: Any = StableDiffusionXLPipeline
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
COMPILE_MODES = ("max-autotune-no-cudagraphs", "reduce-overhead", "max-autotune", "default")


class ModelLoadError(Exception):
    """Raised when a model's files are missing, malformed or described wrongly."""


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """The preset's runtime options as they take effect on `device`.

    GPU-only options (half precision, offload, compilation) are dropped on CPU: half
    precision is slow or unsupported there, offload has nowhere to offload to, and
    compiling a UNet with inductor on CPU costs minutes for no gain worth having.
    """

    dtype: torch.dtype
    channels_last: bool
    fuse_qkv: bool  # one matrix product for query, key and value in every attention layer
    compile_mode: str | None
    cpu_offload: bool
    vae_tiling: bool
    vae_slicing: bool
    vae_dtype: torch.dtype | None = None  # None: diffusers' rule (an fp16 VAE decodes in fp32)

    @classmethod
    def from_runtime(cls, runtime: Mapping[str, Any], device: str) -> RuntimeOptions:
        on_cuda = device == "cuda"
        name = runtime.get("dtype") or "auto"
        if name != "auto" and name not in _DTYPES:
            raise ModelLoadError(f"unknown dtype {name!r}")
        dtype = torch.float32
        if on_cuda:
            dtype = torch.float16 if name == "auto" else _DTYPES[name]
        mode = runtime.get("compile_mode") or "max-autotune-no-cudagraphs"
        if mode not in COMPILE_MODES:
            raise ModelLoadError(f"unknown compile mode {mode!r}")
        # bfloat16 has fp32's range, so the SDXL VAE does not overflow in it as in fp16, and the
        # decode needs no fp32 copy of the VAE; only where the GPU computes in bfloat16.
        bf16_vae = (
            on_cuda
            and bool(runtime.get("vae_bfloat16"))
            and dtype == torch.float16
            and torch.cuda.is_bf16_supported()
        )
        return cls(
            dtype=dtype,
            vae_dtype=torch.bfloat16 if bf16_vae else None,
            channels_last=bool(runtime.get("channels_last")),
            fuse_qkv=bool(runtime.get("fuse_qkv")),
            compile_mode=mode if on_cuda and runtime.get("compile") else None,
            cpu_offload=on_cuda and bool(runtime.get("cpu_offload")),
            vae_tiling=bool(runtime.get("vae_tiling")),
            vae_slicing=bool(runtime.get("vae_slicing")),
        )

    def load_key(self) -> tuple[Any, ...]:
        return (
            str(self.dtype),
            self.channels_last,
            self.fuse_qkv,
            self.compile_mode,
            str(self.vae_dtype),
            self.cpu_offload,  # last: PipelineCache reads it there
        )


def _check_files(spec: ModelSpec) -> None:
    """Fails fast, before a cached model is evicted, when the files are plainly not there."""
    path = Path(spec["local_path"])
    if spec["kind"] == "sdxl-diffusers":
        if not (path / "model_index.json").is_file():
            raise ModelLoadError(f"not a diffusers model folder: {path}")
    elif spec["kind"] == "sdxl-checkpoint":
        config = spec.get("config_path")
        if not path.is_file():
            raise ModelLoadError(f"checkpoint file not found: {path}")
        if not config or not (Path(config) / "model_index.json").is_file():
            raise ModelLoadError(f"checkpoint needs a local config folder, got {config!r}")
    else:
        raise ModelLoadError(f"unsupported model kind {spec['kind']!r}")


def _read(spec: ModelSpec, dtype: torch.dtype) -> Any:
    """Reads the pipeline from local files; every failure here is the model's fault."""
    path = spec["local_path"]
    try:
        if spec["kind"] == "sdxl-checkpoint":
            return _Pipeline.from_single_file(
                path, config=spec["config_path"], local_files_only=True, dtype=dtype
            )
        return _Pipeline.from_pretrained(path, local_files_only=True, dtype=dtype)
    except torch.OutOfMemoryError:
        raise
    except Exception as e:
        raise ModelLoadError(f"cannot load model {spec['id']!r}: {e!r}") from e


def free_memory(device: str) -> None:
    """Returns the caching allocator's free blocks; leaked tensors stay (only exit frees them)."""
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


class PipelineCache:
    """Least-recently-used pipelines, at most `max_pipelines` of them, and fewer when their
    weights would take more than `budget_bytes` together (the one in use always stays).

    On CUDA only the pipeline in use sits on the GPU: the others are moved to CPU memory while
    idle, and moving one back costs a fraction of a load from disk. The oldest is dropped
    *before* a new one loads, so two models never need to fit on the GPU at once.
    """

    def __init__(
        self,
        max_pipelines: int = 1,
        device: str | None = None,
        budget_bytes: int | None = None,
        compile_mode: str | None = None,
    ) -> None:
        self.max_pipelines = max(1, max_pipelines)
        self.compile_mode = compile_mode  # the operator's mode for presets that compile
        self.device = device or default_device()
        self.budget_bytes = budget_bytes
        self._pipes: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._on_device: tuple[Any, ...] | None = None  # the key whose pipeline is on the GPU

    def __len__(self) -> int:
        return len(self._pipes)

    def warm_ids(self) -> list[str]:
        """The model ids kept, the most recently used first."""
        return list(dict.fromkeys(str(key[0]) for key in reversed(self._pipes)))

    def load(self, spec: ModelSpec, runtime: Mapping[str, Any]) -> tuple[Any, float, bool]:
        """The pipeline for `spec`, the seconds it took, and whether it came from the cache.

        Raises ModelLoadError for a model that cannot be read, torch.OutOfMemoryError when it
        does not fit.
        """
        started = time.perf_counter()
        options = self.options_for(runtime)
        key = (
            spec["id"],
            spec["kind"],
            spec["local_path"],
            spec.get("config_path"),
            spec.get("checkpoint_hash"),
            *options.load_key(),
        )
        pipe = self._pipes.get(key)
        cached = pipe is not None
        if pipe is not None:
            self._pipes.move_to_end(key)
            self._bring_to_device(key)
        else:
            _check_files(spec)
            while len(self._pipes) >= self.max_pipelines:
                self._evict_oldest()
            self._park_on_cpu()
            pipe = prepare(_read(spec, options.dtype), options, self.device)
            self._pipes[key] = pipe
            self._on_device = key
            self._keep_within_budget()
        apply_switches(pipe, options)
        return pipe, time.perf_counter() - started, cached

    def options_for(self, runtime: Mapping[str, Any]) -> RuntimeOptions:
        """A preset's options on this device, with the operator's compile mode if set."""
        if self.compile_mode:
            runtime = {**runtime, "compile_mode": self.compile_mode}
        return RuntimeOptions.from_runtime(runtime, self.device)

    def clear(self) -> None:
        while self._pipes:
            self._evict_oldest()

    def _movable(self, key: tuple[Any, ...]) -> bool:
        """Only a GPU pipeline without CPU offload (which moves modules itself) is moved."""
        offloaded = key[-1]  # the load key ends with cpu_offload
        return self.device == "cuda" and not offloaded

    def _park_on_cpu(self) -> None:
        """The pipeline on the GPU goes to CPU memory, to make room for another one."""
        key, self._on_device = self._on_device, None
        if key is not None and key in self._pipes and self._movable(key):
            self._pipes[key].to("cpu")
            free_memory(self.device)

    def _bring_to_device(self, key: tuple[Any, ...]) -> None:
        if self._on_device == key:
            return
        self._park_on_cpu()
        if self._movable(key):
            self._pipes[key].to(self.device)
        self._on_device = key

    def _keep_within_budget(self) -> None:
        if self.budget_bytes is None:
            return
        while len(self._pipes) > 1 and sum(map(weight_bytes, self._pipes.values())) > (
            self.budget_bytes
        ):
            self._evict_oldest()

    def _evict_oldest(self) -> None:
        key, pipe = self._pipes.popitem(last=False)
        if key == self._on_device:
            self._on_device = None
        del pipe
        free_memory(self.device)


def weight_bytes(pipe: Any) -> int:
    """What a pipeline's weights take: the parameters and buffers of its models."""
    total = 0
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        module = getattr(pipe, name, None)
        if module is None:
            continue
        for tensor in [*module.parameters(), *module.buffers()]:
            total += tensor.numel() * tensor.element_size()
    return total
