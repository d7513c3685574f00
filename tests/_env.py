"""Environment helpers of the test suite: XLA flags appended to the ones already set, and the
environment of a subprocess that runs this checkout's package on a given number of host devices."""
import os
from pathlib import Path


def xla_flags_with(flag: str) -> str:
    """``XLA_FLAGS`` of this process with ``flag`` appended (the flags already set are kept)."""
    return " ".join(f for f in (os.environ.get("XLA_FLAGS", ""), flag) if f)


def subprocess_env(devices: int = 1) -> dict:
    """This process's environment for a subprocess with ``devices`` host CPU devices and this
    checkout first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = xla_flags_with(f"--xla_force_host_platform_device_count={devices}")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    return env
