"""Which device this process can measure, and the software that drives it (the calibration key).

Names and versions come from the sources each vendor documents: ``torch.cuda`` for the GPU's
name, memory and count, ``torch.version.cuda`` / ``torch.version.hip`` for the runtime PyTorch
was built against, NVML (``pynvml``, when installed) or ``/proc/driver/nvidia/version`` or
``nvidia-smi --query-gpu=driver_version`` for the NVIDIA driver, ``/sys/module/amdgpu/version``
for the AMD kernel driver, ``sysctl`` and ``platform.mac_ver()`` on macOS, ``/proc/cpuinfo``
and ``platform.release()`` on Linux. Every look-up that may fail is guarded and leaves ``""``.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

import torch

from traintime.errors import SpecError
from traintime.probe.types import DeviceInfo, DeviceKind

KINDS: tuple[DeviceKind, ...] = ("cuda", "rocm", "mps", "cpu")

#: Seconds any helper program (nvidia-smi, sysctl) may take before it is given up on.
TOOL_TIMEOUT_S = 5.0


def gpu_kind() -> DeviceKind:
    """What ``torch.cuda`` drives in this build: AMD GPUs on ROCm builds, NVIDIA ones else."""
    return "rocm" if getattr(torch.version, "hip", None) else "cuda"


def available_kinds() -> list[DeviceKind]:
    """The device kinds this process can use, GPU first, ``cpu`` always last."""
    kinds: list[DeviceKind] = []
    if torch.cuda.is_available():
        kinds.append(gpu_kind())
    if _mps_available():
        kinds.append("mps")
    kinds.append("cpu")
    return kinds


def resolve_kind(kind: str) -> DeviceKind:
    """``kind`` checked against what is available here; ``cuda`` on a ROCm build is ``rocm``
    (PyTorch drives both through ``torch.cuda``). Raises :class:`SpecError` otherwise."""
    wanted = kind.strip().lower()
    if wanted not in KINDS:
        raise SpecError(f"device {kind!r} is not one of {', '.join(KINDS)}")
    available = available_kinds()
    if wanted == "cuda" and gpu_kind() == "rocm" and "rocm" in available:
        return "rocm"
    for candidate in available:
        if candidate == wanted:
            return candidate
    raise SpecError(
        f"device {kind!r} is not available here "
        f"(torch {torch.__version__} sees: {', '.join(available)})"
    )


def device_info(kind: str) -> DeviceInfo:
    """The device ``kind`` names (``cuda``, ``rocm``, ``mps``, ``cpu``) and its software;
    ``catalog_gpu`` is left for the caller to resolve. Raises :class:`SpecError` when the
    device is unknown or not available here."""
    resolved = resolve_kind(kind)
    if resolved in ("cuda", "rocm"):
        return _gpu_info(resolved)
    if resolved == "mps":
        return DeviceInfo(
            kind="mps",
            name=_sysctl("machdep.cpu.brand_string") or "Apple GPU",
            driver=_macos_version(),
            torch=torch.__version__,
            memory_bytes=host_memory_bytes(),
        )
    return DeviceInfo(
        kind="cpu",
        name=cpu_name(),
        driver=platform.release(),
        torch=torch.__version__,
        memory_bytes=host_memory_bytes(),
    )


def _gpu_info(kind: DeviceKind) -> DeviceInfo:
    """A CUDA or ROCm device: device 0 names the set (the probe measures device 0)."""
    props = torch.cuda.get_device_properties(0)
    if kind == "rocm":
        runtime = f"ROCm {_major_minor(str(torch.version.hip))}"
        driver = _read_text(Path("/sys/module/amdgpu/version"))
    else:
        runtime = f"CUDA {torch.version.cuda}" if torch.version.cuda else ""
        driver = nvidia_driver_version()
    return DeviceInfo(
        kind=kind,
        name=torch.cuda.get_device_name(0),
        driver=driver,
        runtime=runtime,
        torch=torch.__version__,
        count=max(1, torch.cuda.device_count()),
        memory_bytes=int(props.total_memory),
    )


def nvidia_driver_version() -> str:
    """The NVIDIA driver version ('550.54.15'): NVML if ``pynvml`` imports, else the kernel
    module's ``/proc`` file, else ``nvidia-smi``; ``""`` when none answers."""
    try:
        import pynvml  # optional: nvidia-ml-py

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # not installed, no NVML library, no permission: try the next source
        pass
    text = _read_text(Path("/proc/driver/nvidia/version"))
    match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
    if match:
        return match.group(1)
    out = _run_tool(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return out.splitlines()[0].strip() if out else ""


def cpu_name() -> str:
    """The host processor's marketing name, or the best the platform offers."""
    for line in _read_text(Path("/proc/cpuinfo")).splitlines():
        if line.startswith("model name") and ":" in line:
            return line.split(":", 1)[1].strip()
    if platform.system() == "Darwin":
        name = _sysctl("machdep.cpu.brand_string")
        if name:
            return name
    return platform.processor() or platform.machine() or "unknown CPU"


def host_memory_bytes() -> int | None:
    """Physical memory of the host (``sysconf`` pages x page size), or None where unknown."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        memsize = _sysctl("hw.memsize")
        return int(memsize) if memsize.isdigit() else None


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _macos_version() -> str:
    release = platform.mac_ver()[0]
    return f"macOS {release}" if release else ""


def _sysctl(key: str) -> str:
    return _run_tool(["sysctl", "-n", key]).strip()


def _major_minor(version: str) -> str:
    """'6.3.42131-fa1d09cbd' -> '6.3'."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else version


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _run_tool(argv: list[str]) -> str:
    """A local program's standard output, or ``""`` when it is missing, fails or hangs."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""
