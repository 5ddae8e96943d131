"""Every benchmark under bench/ still imports: the speed figures in the docs come from them, and a name
that moved in core (as ``cpu_bf16_fast`` once did) would otherwise surface only when someone times."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMPORT_ALL = """
import importlib.util, sys
from pathlib import Path
bench = Path("bench")
sys.path.insert(0, str(bench))  # benchmarks import their shared helpers (machine_info) by name
for path in sorted(bench.glob("*.py")):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # module level only: each benchmark runs under __main__
    print(path.name)
"""


def test_every_benchmark_imports():
    # one child process: benchmarks set thread counts and environment variables at import
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(done.stdout.split()) == sorted(p.name for p in (REPO / "bench").glob("*.py"))
