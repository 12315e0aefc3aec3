"""Timed training steps of real models on the CPU, in one process and under torchrun (gloo)."""

import json

import pytest

torch = pytest.importorskip("torch")

from tests.probe.conftest import tiny  # noqa: E402
from traintime.catalog import find_model  # noqa: E402
from traintime.engine.params import count_params  # noqa: E402
from traintime.errors import SpecError  # noqa: E402
from traintime.probe.train import _child_error, run_distributed, run_model_probe  # noqa: E402
from traintime.specs import ModelSpec  # noqa: E402


def _small_vocab(name: str) -> ModelSpec:
    """A nanochat depth-2 model with a 1,024-token vocabulary (the same blocks, a faster step)."""
    return ModelSpec.model_validate({**find_model(name).model_dump(), "vocab": 1024})


def _consistent(result, spec, *, world_size=1):
    assert result.step_time_s > 0
    assert len(result.step_times_s) == result.steps
    assert result.tokens_per_s == pytest.approx(
        world_size * result.micro_batch * result.seq_len / result.step_time_s
    )
    assert result.param_count == count_params(spec).total
    assert result.world_size == world_size


def test_nanochat_probe_on_cpu():
    """nanochat d2 (Oct 2025: 65,536 vocab, Muon + AdamW, bf16 autocast, bf16 wte)."""
    spec = find_model("nanochat-d2")
    result = run_model_probe(
        spec=spec, micro_batch=2, seq_len=64, steps=2, warmup=1, optimizer="muon"
    )
    _consistent(result, spec)
    assert result.parallel == "single" and result.model == "nanochat-d2"
    assert result.resident_bytes > 0
    assert result.peak_allocated_bytes is None  # no device allocator on the CPU


def test_full_checkpointing_runs_and_stays_finite():
    """nanochat 2026 (value embeddings, smear, backout) with every block recomputed; a loss that
    is not finite would raise."""
    spec = _small_vocab("nanochat-2026-d2")
    result = run_model_probe(
        spec=spec,
        micro_batch=2,
        seq_len=64,
        steps=1,
        warmup=1,
        act_ckpt="full",
        optimizer="muon",
    )
    _consistent(result, spec)
    assert result.act_ckpt == "full"


def test_llama_style_model_with_adamw_in_fp32():
    spec = tiny("llama-3.2-1b")
    result = run_model_probe(
        spec=spec, micro_batch=2, seq_len=64, steps=2, precision="fp32", optimizer="adamw"
    )
    _consistent(result, spec)
    assert result.precision == "fp32" and result.optimizer == "adamw"


def test_moe_model_runs():
    """DeepSeek-V3 shape at toy size: latent attention, a dense first layer, routed and shared
    experts."""
    spec = tiny("deepseek-v3")
    result = run_model_probe(
        spec=spec, micro_batch=2, seq_len=64, steps=2, act_ckpt="selective", optimizer="adamw"
    )
    _consistent(result, spec)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device": "tpu"}, "device='tpu'"),
        ({"device": "cuda:banana"}, "device='cuda:banana'"),
        ({"seq_len": 129}, "learned position table"),
        ({"precision": "fp8"}, "precision='fp8'"),
        ({"optimizer": "sgd"}, "optimizer='sgd'"),
        ({"micro_batch": 0}, "micro_batch=0"),
        ({"steps": 1.5}, "steps=1.5"),
        ({"act_ckpt": "everything"}, "act_ckpt='everything'"),
    ],
)
def test_bad_input_is_one_line(change, message):
    args = {
        "spec": tiny("gpt2-124m"),
        "micro_batch": 1,
        "seq_len": 64,
        "steps": 1,
        "optimizer": "adamw",
        "device": "cpu",
    } | change
    with pytest.raises(SpecError, match=message.replace("(", r"\(")) as err:
        run_model_probe(**args)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_refused_without_a_gpu():
    with pytest.raises(SpecError, match="CUDA is not available"):
        run_model_probe(
            spec=tiny("llama-3.2-1b"), micro_batch=1, seq_len=8, steps=1, optimizer="adamw",
            device="cuda",
        )  # fmt: skip


def test_ddp_on_two_cpu_processes():
    """torchrun with 2 gloo ranks: DDP, Muon on the block matrices, tokens/s of both ranks."""
    spec = _small_vocab("nanochat-2026-d2")
    result = run_distributed(
        nproc=2,
        parallel="ddp",
        spec=spec,
        micro_batch=2,
        seq_len=32,
        steps=2,
        warmup=1,
        optimizer="muon",
        timeout_s=120,
    )
    _consistent(result, spec, world_size=2)
    assert result.parallel == "ddp" and result.resident_bytes > 0


def test_fsdp2_on_two_cpu_processes():
    """FSDP2 (fully_shard per block, then the root) works on gloo in torch 2.13: an MoE model."""
    spec = tiny("mixtral-8x7b")
    result = run_distributed(
        nproc=2,
        parallel="fsdp2",
        spec=spec,
        micro_batch=2,
        seq_len=32,
        steps=2,
        warmup=1,
        optimizer="adamw",
        timeout_s=120,
    )
    _consistent(result, spec, world_size=2)
    assert result.parallel == "fsdp2"


def test_distributed_input_errors_before_launch():
    spec = tiny("llama-3.2-1b")
    common = {"spec": spec, "micro_batch": 1, "seq_len": 16, "steps": 1}
    with pytest.raises(SpecError, match="FSDP2"):
        run_distributed(nproc=2, parallel="fsdp2", optimizer="muon", **common)
    with pytest.raises(SpecError, match="parallel='tp'"):
        run_distributed(nproc=2, parallel="tp", optimizer="adamw", **common)
    with pytest.raises(SpecError, match="nproc=0"):
        run_distributed(nproc=0, parallel="ddp", optimizer="adamw", **common)


def test_child_errors_come_back_as_one_line(tmp_path):
    record = {"type": "UnknownNameError", "message": "unknown model 'x'", "user_error": True}
    (tmp_path / "result.json.rank1.error").write_text(json.dumps(record))
    err = _child_error(tmp_path, "")
    assert isinstance(err, SpecError) and str(err) == "unknown model 'x'"
    empty = tmp_path / "empty"
    empty.mkdir()
    stderr = "Traceback (most recent call last):\n  File x\nRuntimeError: gloo broke\n[W] exit\n"
    err = _child_error(empty, stderr)
    assert isinstance(err, RuntimeError)
    assert str(err) == "the distributed probe failed: RuntimeError: gloo broke"
