"""Helpers of the benchmark scripts' tests: a script under ``benchmarks/`` loaded as a module, and the
check that a bad argument is refused with one line before any work."""
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    """``benchmarks/<name>.py`` as a module (the folder put on ``sys.path``, as when the script runs)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"{name}_bench", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_refused(main, argv, tmp_path, capsys):
    """``main(argv + --out <new folder>)`` exits 2 with one ``error: `` line naming ``argv[0]`` and creates nothing."""
    out = tmp_path / "never"
    assert main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and argv[0] in err, err
    assert not out.exists()
