"""The SDXL child process, driven over its pipe exactly as the supervisor drives it.

One spawned child serves most tests (start-up costs seconds: torch and diffusers imports);
tests that end a child start their own. The model is the tiny random SDXL demo model, so
everything runs offline on CPU in well under a second per image.

It is one module because most cases share one spawned child, which is costly to start.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from dreamforge_adapters.sdxl.child import child_main
from dreamforge_adapters.sdxl.child_process import runner_context
from dreamforge_adapters.sdxl.demo_checkpoint import build_demo_single_file
from dreamforge_adapters.sdxl.demo_model import build_demo_diffusers
from dreamforge_adapters.sdxl.protocol import ModelSpec
from dreamforge_core.domain.params import SCHEDULERS  # every name the API accepts must run

Spec = dict[str, Any]
WAIT_S = 120  # one message; generous for a loaded CI machine, never reached when healthy


class Child:
    """A `child_main` started as the runner starts it, and the parent's end of its pipe."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        ctx = runner_context()
        self.conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(
            target=child_main, args=(child_conn, {"threads": 1, **(options or {})}), daemon=True
        )
        self.process.start()
        child_conn.close()
        self.ready = self.receive()

    def receive(self) -> dict[str, Any]:
        if not self.conn.poll(WAIT_S):
            raise AssertionError(f"no message from the child within {WAIT_S} s")
        message: dict[str, Any] = self.conn.recv()
        return message

    def request(self, spec: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
        """Sends one generate message; returns every reply up to `done` or `error`."""
        seed = params.pop("seed", 1)
        hooks = params.pop("hooks", {})
        runtime = params.pop("runtime", {"dtype": "auto"})
        request_id = params.pop("request_id", uuid.uuid4().hex)
        self.send_generate(spec, request_id, seed, hooks, runtime, **params)
        replies = [self.receive()]
        while replies[-1]["type"] not in ("done", "error"):
            replies.append(self.receive())
        assert all(reply["request_id"] == request_id for reply in replies), replies
        return replies

    def send_generate(
        self,
        spec: dict[str, Any],
        request_id: str,
        seed: int = 1,
        hooks: dict[str, Any] | None = None,
        runtime: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        inputs = {name: params.pop(name, None) for name in ("init_image", "mask_image")}
        self.conn.send(
            {
                **inputs,
                "op": "generate",
                "request_id": request_id,
                "model": spec,
                "params": {
                    "prompt": "a photo of a cat",
                    "negative_prompt": "",
                    "width": 64,
                    "height": 64,
                    "steps": 3,
                    "guidance": 5.0,
                    "scheduler": "euler",
                    **params,
                },
                "seed": seed,
                "runtime": runtime or {},
                "hooks": hooks or {},
            }
        )

    def pixels(self, spec: dict[str, Any], **params: Any) -> bytes:
        last = self.request(spec, **params)[-1]
        assert last["type"] == "done", last
        pixels: bytes = last["pixels"]
        return pixels

    def stop(self) -> int | None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send({"op": "shutdown"})
            self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)
        self.conn.close()
        return self.process.exitcode


def _spec(model_id: str, kind: str, path: Path, config: Path | None = None) -> Spec:
    return {
        "id": model_id,
        "kind": kind,
        "local_path": str(path),
        "config_path": str(config) if config else None,
        "checkpoint_hash": None,
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Spec]:
    root = tmp_path_factory.mktemp("models")
    folder = build_demo_diffusers(root / "tiny")
    single = build_demo_single_file(folder, root / "single" / "tiny.safetensors")
    return {
        "folder": _spec("tiny", "sdxl-diffusers", folder),
        "single": _spec("tiny-single", "sdxl-checkpoint", single, folder),
    }


@pytest.fixture(scope="module")
def child(models: dict[str, Spec]) -> Iterator[Child]:
    running = Child()
    yield running
    running.stop()


@pytest.fixture
def tiny(models: dict[str, Spec]) -> Spec:
    return models["folder"]


def test_the_child_announces_itself_ready_on_cpu(child: Child) -> None:
    ready = child.ready
    assert ready["type"] == "ready"
    assert ready["device"] == "cpu"
    assert ready["torch"].startswith("2.")
    assert ready["diffusers"]
    assert ready["preloaded"] is True  # forked from the server that imported the libraries


def test_a_model_loads_once_then_comes_from_the_cache(child: Child, tiny: Spec) -> None:
    # Runtime options that change the loaded object are part of the key: a fresh key loads.
    runtime = {"dtype": "auto", "channels_last": True}
    first = child.request(tiny, runtime=runtime)
    second = child.request(tiny, runtime=runtime)
    assert first[0]["type"] == "loaded"
    assert first[0]["model_id"] == "tiny"
    assert first[0]["cached"] is False
    assert second[0]["type"] == "loaded"
    assert second[0]["cached"] is True
    assert second[0]["warm"] == ["tiny"]  # what routing advertises for this worker
    assert second[0]["seconds"] < first[0]["seconds"]
    assert first[-1]["pixels"] == second[-1]["pixels"]


def test_steps_are_reported_in_order_then_the_raw_image(child: Child, tiny: Spec) -> None:
    replies = child.request(tiny, steps=5, width=64, height=128)
    steps = [m for m in replies if m["type"] == "step"]
    assert [(m["done"], m["total"]) for m in steps] == [(i, 5) for i in range(1, 6)]
    done = replies[-1]
    assert done["type"] == "done"
    assert (done["width"], done["height"]) == (64, 128)
    assert isinstance(done["pixels"], bytes)
    assert len(done["pixels"]) == 64 * 128 * 3
    assert len(set(done["pixels"])) > 1  # an image, not a blank
    assert done["seconds"] > 0


def test_memory_figures_are_the_process_rss_without_cuda(child: Child, tiny: Spec) -> None:
    memory = child.request(tiny)[-1]["memory"]
    assert memory["kind"] == "process"
    assert memory["start_bytes"] > 0
    assert memory["end_bytes"] > 0
    assert memory["peak_bytes"] >= max(memory["start_bytes"], memory["end_bytes"])


def test_the_same_seed_gives_identical_pixels(child: Child, tiny: Spec) -> None:
    assert child.pixels(tiny, seed=7) == child.pixels(tiny, seed=7)
    assert child.pixels(tiny, seed=7) != child.pixels(tiny, seed=8)


def test_the_scheduler_changes_the_image_and_does_not_leak(child: Child, tiny: Spec) -> None:
    euler = child.pixels(tiny, scheduler="euler")
    karras = child.pixels(tiny, scheduler="dpmpp_2m_karras")
    assert karras != euler
    assert child.pixels(tiny, scheduler="euler") == euler


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_runs_all_its_steps(child: Child, tiny: Spec, scheduler: str) -> None:
    replies = child.request(tiny, scheduler=scheduler, steps=4)
    assert [m["done"] for m in replies if m["type"] == "step"] == [1, 2, 3, 4]
    assert replies[-1]["type"] == "done"
    assert len(replies[-1]["pixels"]) == 64 * 64 * 3


def test_the_single_file_checkpoint_gives_the_folders_image(
    child: Child, models: dict[str, Spec]
) -> None:
    replies = child.request(models["single"])
    assert replies[0]["type"] == "loaded"
    assert replies[0]["model_id"] == "tiny-single"
    single, folder = replies[-1]["pixels"], child.pixels(models["folder"])
    # The same weights; a float kernel may round a level differently on some CPUs.
    assert len(single) == len(folder)
    assert max(abs(a - b) for a, b in zip(single, folder, strict=True)) <= 2


def test_a_simulated_oom_is_classified_and_the_child_serves_on(child: Child, tiny: Spec) -> None:
    error = child.request(tiny, prompt="a cat [[oom]]", hooks={"enabled": True})[-1]
    assert error["type"] == "error"
    assert error["code"] == "oom"
    assert "out of memory" in error["message"]
    assert error["memory"]["kind"] == "process"
    assert child.request(tiny)[-1]["type"] == "done"


def test_markers_do_nothing_unless_hooks_are_enabled(child: Child, tiny: Spec) -> None:
    assert child.request(tiny, prompt="a cat [[oom]] [[crash]]")[-1]["type"] == "done"


def test_the_slow_marker_sleeps_at_every_step(child: Child, tiny: Spec) -> None:
    done = child.request(tiny, prompt="[[slow:0.2]]", steps=2, hooks={"enabled": True})[-1]
    assert done["type"] == "done"
    assert done["seconds"] >= 0.4


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"local_path": "/no/such/model"}, "not a diffusers model folder"),
        ({"kind": "sdxl-checkpoint", "local_path": "/no/such.safetensors"}, "not found"),
        ({"kind": "unknown-kind"}, "unsupported model kind"),
    ],
)
def test_a_model_that_cannot_load_is_invalid_input(
    child: Child, tiny: Spec, change: Spec, expected: str
) -> None:
    replies = child.request({**tiny, **change})
    assert [m["type"] for m in replies] == ["error"]
    assert replies[0]["code"] == "invalid_input"
    assert expected in replies[0]["message"]
    assert child.request(tiny)[-1]["type"] == "done"


def test_a_broken_model_folder_is_invalid_input(child: Child, tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    error = child.request(_spec("broken", "sdxl-diffusers", tmp_path))[-1]
    assert error["code"] == "invalid_input"


def test_an_unknown_scheduler_is_invalid_input(child: Child, tiny: Spec) -> None:
    error = child.request(tiny, scheduler="lms")[-1]
    assert error["code"] == "invalid_input"
    assert "lms" in error["message"]


def test_shutdown_and_a_closed_pipe_both_end_the_child_cleanly() -> None:
    asked, orphaned = Child({"threads": 1}), Child({"threads": 1})
    assert asked.stop() == 0
    orphaned.conn.close()
    orphaned.process.join(30)
    assert orphaned.process.exitcode == 0


def test_the_crash_marker_ends_the_child_abruptly(tiny: Spec) -> None:
    child = Child({"threads": 1})
    child.conn.send(
        {
            "op": "generate",
            "request_id": "crash",
            "model": tiny,
            "params": {
                "prompt": "[[crash]]",
                "width": 64,
                "height": 64,
                "steps": 2,
                "guidance": 5.0,
                "scheduler": "euler",
            },
            "seed": 1,
            "runtime": {},
            "hooks": {"enabled": True},
        }
    )
    child.process.join(WAIT_S)
    assert child.process.exitcode == 3
    child.conn.close()
    # The next runner process forks from the same server: nothing is imported again.
    again = Child({"threads": 1})
    assert again.ready["preloaded"] is True
    assert again.pixels(tiny, steps=2)
    assert again.stop() == 0


def test_vae_switches_apply_without_reloading_the_model(child: Child, tiny: Spec) -> None:
    child.request(tiny)
    replies = child.request(tiny, runtime={"vae_tiling": True, "vae_slicing": True})
    assert replies[0]["cached"] is True
    assert replies[-1]["type"] == "done"


# --- the child's building blocks, in this process ------------------------------------------


def test_scheduler_names_fix_the_sampler_whatever_the_base(models: dict[str, Spec]) -> None:
    from dreamforge_adapters.sdxl.schedulers import make_scheduler

    config = Path(models["folder"]["local_path"]) / "scheduler" / "scheduler_config.json"
    base = json.loads(config.read_text())
    karras = make_scheduler("dpmpp_2m_karras", base)
    assert karras.config.use_karras_sigmas is True
    assert make_scheduler("dpmpp_2m_sde", base).config.algorithm_type == "sde-dpmsolver++"
    assert make_scheduler("euler", karras.config).config.use_karras_sigmas is False
    assert make_scheduler("euler", base) is not make_scheduler("euler", base)
    with pytest.raises(ValueError, match="lms"):
        make_scheduler("lms", base)


def test_runtime_options_drop_what_only_a_gpu_can_use() -> None:
    import torch

    from dreamforge_adapters.sdxl.pipelines import ModelLoadError, RuntimeOptions

    wanted = {"dtype": "auto", "compile": True, "cpu_offload": True, "channels_last": True}
    cpu = RuntimeOptions.from_runtime(wanted, "cpu")
    assert (cpu.dtype, cpu.compile_mode, cpu.cpu_offload) == (torch.float32, None, False)
    assert cpu.channels_last is True
    cuda = RuntimeOptions.from_runtime(wanted, "cuda")
    assert (cuda.dtype, cuda.compile_mode) == (torch.float16, "max-autotune-no-cudagraphs")
    assert cuda.cpu_offload is True
    assert RuntimeOptions.from_runtime({"dtype": "bfloat16"}, "cuda").dtype == torch.bfloat16
    assert RuntimeOptions.from_runtime({"dtype": "float16"}, "cpu").dtype == torch.float32
    with pytest.raises(ModelLoadError):
        RuntimeOptions.from_runtime({"dtype": "int8"}, "cuda")


def test_the_cache_keeps_the_most_recent_pipelines(models: dict[str, Spec]) -> None:
    from dreamforge_adapters.sdxl.pipelines import PipelineCache

    tiny, single = cast(ModelSpec, models["folder"]), cast(ModelSpec, models["single"])
    other = {"dtype": "auto", "channels_last": True}
    cache = PipelineCache(max_pipelines=2, device="cpu")
    assert [cache.load(tiny, {})[2], cache.load(tiny, other)[2]] == [False, False]
    assert [cache.load(tiny, {})[2], cache.load(tiny, other)[2]] == [True, True]
    assert len(cache) == 2
    cache.max_pipelines = 1
    pipe, _, cached = cache.load(single, {})
    assert (cached, len(cache)) == (False, 1)
    assert pipe._progress_bar_config == {"disable": True}
    cache.clear()
    assert len(cache) == 0


def test_the_cache_keeps_fewer_pipelines_when_their_weights_pass_the_budget(
    models: dict[str, Spec],
) -> None:
    from dreamforge_adapters.sdxl.pipelines import PipelineCache, weight_bytes

    tiny, single = cast(ModelSpec, models["folder"]), cast(ModelSpec, models["single"])
    cache = PipelineCache(max_pipelines=3, device="cpu")
    size = weight_bytes(cache.load(tiny, {})[0])
    assert size > 0
    cache.budget_bytes = int(size * 1.5)  # room for one
    cache.load(single, {})
    assert cache.warm_ids() == ["tiny-single"]  # the older one went, the one in use stays
    cache.budget_bytes = None
    cache.load(tiny, {})
    assert cache.warm_ids() == ["tiny", "tiny-single"]
    cache.clear()


def test_an_interrupt_stops_the_request_at_its_next_step_and_the_child_serves_on(
    child: Child, tiny: Spec
) -> None:
    child.send_generate(
        tiny, "abandoned", steps=200, hooks={"enabled": True}, prompt="[[slow:0.05]]"
    )
    first = child.receive()
    while first["type"] != "step":
        first = child.receive()
    child.conn.send({"op": "interrupt", "request_id": "someone else"})  # ignored
    child.conn.send({"op": "interrupt", "request_id": "abandoned"})
    replies = [child.receive()]
    while replies[-1]["type"] not in ("done", "error"):
        replies.append(child.receive())
    assert all(reply["request_id"] == "abandoned" for reply in replies)
    assert replies[-1]["code"] == "interrupted"
    assert len(replies) < 50  # stopped at the next step or so, not after 200
    assert child.request(tiny, request_id="next")[-1]["type"] == "done"


# --- image-to-image and inpainting, from the same loaded weights ----------------------------


def _png(width: int, height: int, mode: str = "RGB", right_half: int | None = None) -> bytes:
    """A gradient picture, or (with `right_half`) a mask: black, that value on the right."""
    from PIL import Image

    if right_half is None:
        picture = Image.linear_gradient("L").resize((width, height)).convert(mode)
    else:
        picture = Image.new("L", (width, height), 0)
        picture.paste(right_half, (width // 2, 0, width, height))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def test_image_to_image_runs_strength_of_the_steps_from_the_cached_weights(
    child: Child, tiny: Spec
) -> None:
    child.request(tiny)  # loaded
    replies = child.request(tiny, steps=10, strength=0.5, init_image=_png(64, 64))
    assert replies[0]["cached"] is True  # no second load for another mode
    steps = [(m["done"], m["total"]) for m in replies if m["type"] == "step"]
    assert steps == [(i, 5) for i in range(1, 6)]
    done = replies[-1]
    assert (done["width"], done["height"]) == (64, 64)
    assert done["pixels"] != child.pixels(tiny, steps=10)  # not text-to-image


def test_image_to_image_is_reproducible_and_follows_strength_and_input(
    child: Child, tiny: Spec
) -> None:
    init = _png(64, 64)
    first = child.pixels(tiny, steps=6, strength=0.5, init_image=init, seed=3)
    assert child.pixels(tiny, steps=6, strength=0.5, init_image=init, seed=3) == first
    assert child.pixels(tiny, steps=6, strength=0.9, init_image=init, seed=3) != first
    other = _png(64, 64, mode="RGB")[::-1]  # not an image: the child refuses it
    assert child.request(tiny, strength=0.5, init_image=other)[-1]["code"] == "provider_error"


def _mean_difference(a: bytes, b: bytes, columns: range, width: int = 64) -> float:
    rows = len(a) // (width * 3)
    total = 0
    for y in range(rows):
        for x in columns:
            at = (y * width + x) * 3
            total += sum(abs(a[at + c] - b[at + c]) for c in range(3))
    return total / (rows * len(columns) * 3)


def test_inpainting_repaints_where_the_mask_is_white(child: Child, tiny: Spec) -> None:
    init, mask = _png(64, 64), _png(64, 64, right_half=255)
    replies = child.request(tiny, steps=4, strength=1.0, init_image=init, mask_image=mask)
    assert [m["total"] for m in replies if m["type"] == "step"] == [4] * 4
    one = replies[-1]["pixels"]
    two = child.pixels(tiny, steps=4, strength=1.0, init_image=init, mask_image=mask, seed=99)
    kept, repainted = range(0, 16), range(48, 64)
    # the seed decides the repainted half; the kept half comes from the init image
    assert _mean_difference(one, two, kept) * 4 < _mean_difference(one, two, repainted)


def test_a_mask_without_an_init_image_is_invalid_input(child: Child, tiny: Spec) -> None:
    reply = child.request(tiny, mask_image=_png(64, 64, right_half=255))[-1]
    assert (reply["type"], reply["code"]) == ("error", "invalid_input")


class _Parked:
    """A stand-in pipeline that remembers where it was moved."""

    def __init__(self) -> None:
        self.device = "cuda"

    def to(self, device: str) -> _Parked:
        self.device = device
        return self


def test_on_cuda_only_the_pipeline_in_use_stays_on_the_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dreamforge_adapters.sdxl import pipelines

    monkeypatch.setattr(pipelines, "_check_files", lambda spec: None)
    monkeypatch.setattr(pipelines, "_read", lambda spec, dtype: _Parked())
    monkeypatch.setattr(pipelines, "prepare", lambda pipe, options, device: pipe.to(device))
    monkeypatch.setattr(pipelines, "apply_switches", lambda pipe, options: None)
    monkeypatch.setattr(pipelines, "free_memory", lambda device: None)
    cache = pipelines.PipelineCache(max_pipelines=2, device="cuda")
    spec_a = cast(ModelSpec, _spec("a", "sdxl-diffusers", Path("/a")))
    spec_b = cast(ModelSpec, _spec("b", "sdxl-diffusers", Path("/b")))

    a = cache.load(spec_a, {})[0]
    b = cache.load(spec_b, {})[0]
    assert (a.device, b.device) == ("cpu", "cuda")  # the idle one waits in CPU memory
    again, _, cached = cache.load(spec_a, {})
    assert (again is a, cached) == (True, True)
    assert (a.device, b.device) == ("cuda", "cpu")  # moved back, not loaded again
    assert cache.warm_ids() == ["a", "b"]
