"""Messages between the supervising parent (`supervisor.py`) and the child (`child.py`).

They travel as plain dicts over a `multiprocessing` Pipe (pickled). The parent sends one
request at a time and reads messages until `done` or `error`. Every request carries a fresh
`request_id` and every message about it names that id: the parent drops any message that
names another request, so a late message of an abandoned request never answers the next one.

Parent → child:
  {"op": "generate", "request_id": str, "model": ModelSpec,
   "params": dict (GenerateParams.to_dict()), "seed": int, "runtime": dict, "hooks": dict,
   "loras": [LoraSpec],
   "init_image": bytes | None, "mask_image": bytes | None}  PNG of width x height: with
   init_image the request is image-to-image (params.strength), with both inpainting
  {"op": "interrupt", "request_id": str}   stop that request at its next step (or after the load)
  {"op": "shutdown"}                       also interrupts the running request

Child → parent (all but `ready` carry the request's "request_id"):
  {"type": "ready", "device": "cuda"|"cpu", "torch": str, "diffusers": str,
   "preloaded": bool (forked with the libraries imported, ADR 0043)}          once, at start
  {"type": "loaded", "model_id": str, "seconds": float, "cached": bool,
   "warm": [model id, ...] (the models kept warm now, the one in use first),
   "loras_loaded": [str]}                                                    per request
  {"type": "step", "done": int, "total": int}                                per denoising step
  {"type": "preview", "step": int, "total": int, "width": int, "height": int,
   "rgb": bytes (8-bit RGB of the latents, `previews.py`)}      every params.preview_every steps
  {"type": "done", "width": int, "height": int, "pixels": bytes,
   "seconds": float, "memory": Memory}
  {"type": "error", "code": "oom"|"invalid_input"|"provider_error"|"interrupted",
   "message": str, "memory": Memory}

When the parent gives up on a request (its listener raised, the worker is stopping) it sends
`interrupt` and waits one step's time plus a grace period for that request's `error`
("interrupted"); the child then stays warm. A child that does not answer in time is killed.

ModelSpec: {"id", "kind" ("sdxl-diffusers" | "sdxl-checkpoint"), "local_path" (a diffusers
folder, or a .safetensors file), "config_path" (a diffusers folder whose configs and
tokenizers describe a single-file checkpoint; None for folders), "checkpoint_hash"}.

LoraSpec: {"id", "path" (a .safetensors LoRA), "sha256", "scale"}: the LoRAs the request
applies (`loras.py`: loaded once per pipeline, kept while used; none: every LoRA off).

Memory: {"kind": "cuda" | "process", "start_bytes": int, "peak_bytes": int, "end_bytes": int}.
On CUDA the figures are torch's allocated bytes (peak from max_memory_allocated, end after
emptying the cache); without CUDA they are the child's resident set size (peak = VmHWM) and
say so with kind "process".

Counting and timing: `step.done` counts the steps that run 1..N exactly once each (N = steps,
or int(steps * strength) with an init_image), whatever
the sampler calls internally (heun calls back 2N-1 times for N steps). `loaded.seconds` is the
load alone; `done.seconds` the generation alone. An unknown op gets an `invalid_input` error.
An empty negative prompt reaches diffusers as None (SDXL's zero embedding, as with no
negative prompt at all).

Child options (the second argument of `child_main`): {"threads": int | None (None: all
cores but one without CUDA, torch's default with it),
"pipeline_cache_size": int, "memory_budget_mb": int | None, "compile_cache_dir": str | None,
"compile_mode": str | None (overrides the preset's), "env": {name: value}}.

runtime (from the preset): {"dtype": "auto"|"float16"|"bfloat16"|"float32",
"channels_last": bool, "fuse_qkv": bool, "compile": bool, "vae_tiling": bool, "vae_slicing": bool,
"cpu_offload": bool, "compile_mode": str, "vae_bfloat16": bool}. Unknown keys are ignored.
torch.compile is lazy: the first item after a load compiles the UNet, so a compile preset's
first item is slow.

hooks (tests only; empty unless the operator enabled test hooks): prompt markers act in the
child: "[[oom]]" raises a simulated CUDA out-of-memory error at the first step,
"[[crash]]" ends the child with os._exit at the first step, "[[slow:S]]" sleeps S seconds
per step. hooks = {"enabled": True}.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class ModelSpec(TypedDict):
    id: str
    kind: str
    local_path: str
    config_path: str | None
    checkpoint_hash: str | None


class Memory(TypedDict):
    kind: Literal["cuda", "process"]
    start_bytes: int
    peak_bytes: int
    end_bytes: int


GenerateMessage = dict[str, Any]
ChildMessage = dict[str, Any]

SHUTDOWN: dict[str, str] = {"op": "shutdown"}
ERROR_CODES = ("oom", "invalid_input", "provider_error", "interrupted")
