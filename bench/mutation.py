"""Mutation check of the code paths that decide what a forecast means (issue 15).

Each mutant is one small deliberate bug (an AST edit) in one module; the module's own test files run
against it (``-x``, one timeout per mutant). A mutant is *killed* when a test fails or the run times
out, *surviving* when every test passes. Survivors show where the tests would not notice a wrong answer.

    OMP_NUM_THREADS=1 .venv/bin/python bench/mutation.py                 # every target (~1.5 h on 2 busy cores)
    .venv/bin/python bench/mutation.py --every 2                         # every 2nd mutant: half the time
    .venv/bin/python bench/mutation.py --target metrics --list           # the mutants, not run
    .venv/bin/python bench/mutation.py --target inputs --ids 3 7         # re-check a few mutants
    .venv/bin/python bench/mutation.py --json bench/mutation_report.json # also write the survivors

Operators: ``cmp`` (< <-> <=, > <-> >=, == <-> !=, is <-> is not), ``index`` (+1 / -1 on subscript
indices and slice bounds: a one-step shift in time or space), ``arith`` (+ <-> -, * <-> /), ``bitop``
(& <-> |: hits and misses, masks), ``boolop`` (and <-> or), ``negate`` (``not`` on an if/while/ternary
test, ``~cond`` in ``np.where``, dropping a ``~``), ``mask`` (``np.isfinite``/``isnan`` made all-True /
all-False, ``np.nan*`` -> plain reduction, ``a[mask]`` -> ``a``), ``shift`` (``ds[name].values`` rolled one
step along the last axis). Raise statements, docstrings and annotations are never mutated.

The mutant lives only in memory: a forked child installs an import hook that compiles the mutated
tree for the target module, then runs pytest in-process (numpy, torch, xarray already imported by the
parent, so a mutant costs its tests only). The files on disk never change, so an interrupted run
leaves nothing behind; tests that run the code in a *subprocess* see the original module and cannot
kill a mutant (the target test files below avoid them).
"""

from __future__ import annotations

import argparse
import ast
import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# target name -> (module file, module name, test files, functions to mutate or None for all)
TARGETS: dict[str, tuple[str, str, list[str], list[str] | None]] = {
    "metrics": ("core/metrics.py", "core.metrics", ["tests/hydro/test_metrics.py", "tests/hydro/test_metrics_edges.py"], None),
    "windows": ("core/hydro/windows.py", "core.hydro.windows",
                ["tests/hydro/test_hydro_windows.py", "tests/hydro/test_hydro_window_batches.py",
                 "tests/hydro/test_metrics_edges.py"], None),
    "inputs": ("core/hydro/inputs.py", "core.hydro.inputs",
               ["tests/hydro/test_hydro_inputs.py", "tests/hydro/test_hydro_alignment.py"], None),
    "rain_samples": ("core/rain/experiments.py", "core.rain.experiments",
                     ["tests/rain/test_rain_samples.py", "tests/rain/test_rain_stacking.py"],
                     ["build_experiment", "fit_frames", "split_samples", "__getitem__", "_take"]),
    "rain_sample_ends": ("core/rain/stacking.py", "core.rain.stacking",
                         ["tests/rain/test_rain_samples.py", "tests/rain/test_rain_stacking.py"], ["sample_end_indices"]),
    "rain_evaluate": ("core/rain/evaluate.py", "core.rain.evaluate",
                      ["tests/rain/test_rain_evaluate.py", "tests/rain/test_rain_samples.py"], None),
}

_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_ARITH_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_BIT_SWAP = {ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd}
_NAN_REDUCTIONS = {"nanmean": "mean", "nansum": "sum", "nanstd": "std", "nanmax": "max", "nanmin": "min",
                   "nanmedian": "median", "nanquantile": "quantile", "nanpercentile": "percentile"}
_MASK_WORDS = ("mask", "keep", "valid", "ok", "finite", "observed", "bad", "in_")


@dataclass
class Mutant:
    ident: int
    op: str
    line: int
    description: str


def _plus(node: ast.expr, k: int) -> ast.expr:
    return ast.BinOp(left=node, op=ast.Add() if k > 0 else ast.Sub(), right=ast.Constant(abs(k)))


def _call(attr: str, *args: ast.expr, **kw: ast.expr) -> ast.Call:
    np_mod = ast.Call(func=ast.Name("__import__", ast.Load()), args=[ast.Constant("numpy")], keywords=[])
    return ast.Call(func=ast.Attribute(np_mod, attr, ast.Load()), args=list(args),
                    keywords=[ast.keyword(arg=k, value=v) for k, v in kw.items()])


class _Mutator(ast.NodeTransformer):
    """Walks a module; mutation point number ``target`` is applied (``target=-1``: only count them)."""

    def __init__(self, target: int, functions: list[str] | None) -> None:
        self.target = target
        self.functions = functions
        self.count = 0
        self.found: list[Mutant] = []
        self._in_scope = functions is None

    def _point(self, op: str, node: ast.AST, description: str) -> bool:
        """Register one mutation point; True when it is the one to apply."""
        if not self._in_scope:
            return False
        ident = self.count
        self.count += 1
        if self.target < 0:
            self.found.append(Mutant(ident, op, getattr(node, "lineno", 0), description))
        return ident == self.target

    # --- scope and what is never mutated ---
    def visit_FunctionDef(self, node):
        outer = self._in_scope
        if self.functions is not None:
            self._in_scope = node.name in self.functions
        # arguments (annotations, defaults) and decorators are left alone: only the body is mutated
        node.body = [self.visit(s) for s in node.body]
        node.body = [s for s in node.body if s is not None]
        self._in_scope = outer
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Raise(self, node):
        return node

    def visit_AnnAssign(self, node):
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_JoinedStr(self, node):
        return node

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant):  # docstring
            return node
        return self.generic_visit(node)

    # --- operators ---
    def visit_Compare(self, node):
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            new = _CMP_SWAP.get(type(op))
            if new and self._point("cmp", node, f"{type(op).__name__} -> {new.__name__}"):
                node.ops[i] = new()
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        new = _ARITH_SWAP.get(type(node.op))
        if new and self._point("arith", node, f"{type(node.op).__name__} -> {new.__name__}"):
            node.op = new()
        new = _BIT_SWAP.get(type(node.op))
        if new and self._point("bitop", node, f"{type(node.op).__name__} -> {new.__name__}"):
            node.op = new()
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        new = _ARITH_SWAP.get(type(node.op))
        if new and self._point("arith", node, f"{type(node.op).__name__}= -> {new.__name__}="):
            node.op = new()
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._point("boolop", node, f"{type(node.op).__name__} -> {new.__name__}"):
            node.op = new()
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Invert, ast.Not)) and self._point("negate", node, f"drop {type(node.op).__name__}"):
            return node.operand
        return node

    def _negate_test(self, node, kind: str):
        self.generic_visit(node)
        if self._point("negate", node, f"not ({kind} test)"):
            node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
        return node

    def visit_If(self, node):
        return self._negate_test(node, "if")

    def visit_While(self, node):
        return self._negate_test(node, "while")

    def visit_IfExp(self, node):
        return self._negate_test(node, "ternary")

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else (func.id if isinstance(func, ast.Name) else "")
        if name == "where" and node.args:
            if self._point("negate", node, "np.where(~cond, ...)"):
                node.args[0] = ast.UnaryOp(op=ast.Invert(), operand=node.args[0])
        if name == "isfinite" and node.args:
            if self._point("mask", node, "isfinite(...) -> all True"):
                return ast.BinOp(left=node, op=ast.BitOr(), right=ast.Constant(True))
        if name == "isnan" and node.args:
            if self._point("mask", node, "isnan(...) -> all False"):
                return ast.BinOp(left=node, op=ast.BitAnd(), right=ast.Constant(False))
        if name in _NAN_REDUCTIONS and isinstance(func, ast.Attribute):
            if self._point("mask", node, f"{name} -> {_NAN_REDUCTIONS[name]}"):
                func.attr = _NAN_REDUCTIONS[name]
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if (node.attr == "values" and isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Subscript)
                and not isinstance(node.value.slice, ast.Slice)):
            for k in (1, -1):
                if self._point("shift", node, f"{ast.unparse(node)} rolled by {k:+d} on the last axis"):
                    return _call("roll", node, ast.Constant(k), axis=ast.Constant(-1))
        return node

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if not isinstance(node.ctx, ast.Load) and not isinstance(node.ctx, ast.Store):
            return node
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for j, part in enumerate(parts):
            if isinstance(part, ast.Slice):
                for bound in ("lower", "upper"):
                    value = getattr(part, bound)
                    if value is None:
                        continue
                    for k in (1, -1):
                        if self._point("index", node, f"slice {bound} {ast.unparse(value)} {k:+d}"):
                            setattr(part, bound, _plus(value, k))
            elif isinstance(part, ast.Constant) and not isinstance(part.value, int):
                continue  # ds["prcp"], cfg["data"]: a key, not a position
            elif isinstance(part, ast.Constant) and part.value is None:
                continue
            else:
                if self._is_mask(part) and isinstance(node.ctx, ast.Load):
                    if self._point("mask", node, f"{ast.unparse(node)} -> drop the mask"):
                        return node.value
                    continue
                if isinstance(part, ast.Name) and part.id in ("name", "key", "k", "what"):
                    continue
                for k in (1, -1):
                    if self._point("index", node, f"index {ast.unparse(part)} {k:+d}"):
                        new = _plus(part, k)
                        if isinstance(node.slice, ast.Tuple):
                            node.slice.elts[j] = new
                        else:
                            node.slice = new
        return node

    @staticmethod
    def _is_mask(part: ast.expr) -> bool:
        if isinstance(part, ast.Name):
            return any(w in part.id.lower() for w in _MASK_WORDS)
        if isinstance(part, (ast.Compare, ast.BoolOp)) or (isinstance(part, ast.BinOp) and isinstance(part.op, (ast.BitAnd, ast.BitOr))):
            return True
        return isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.Invert)


def list_mutants(path: Path, functions: list[str] | None) -> list[Mutant]:
    m = _Mutator(-1, functions)
    m.visit(ast.parse(path.read_text(), str(path)))
    return m.found


def mutated_code(path: Path, ident: int, functions: list[str] | None):
    tree = _Mutator(ident, functions).visit(ast.parse(path.read_text(), str(path)))
    return compile(ast.fix_missing_locations(tree), str(path), "exec")


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, module: str, path: Path, code) -> None:
        self.module, self.path, self.code = module, path, code

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.module:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.code, module.__dict__)


def _pytest_args(tests: list[str]) -> list[str]:
    return [*tests, "-x", "-q", "--no-header", "-p", "no:cacheprovider", "-p", "no:randomly",
            "-p", "no:timeout", "-W", "ignore"]


def run_one(module: str, path: Path, tests: list[str], code, timeout: float) -> tuple[str, float]:
    """``("killed" | "survived" | "timeout" | "error", seconds)`` for one mutant (``code=None``: the original)."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: own process group so a timeout can end whatever the tests started
        os.setsid()
        rc = 99
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            if code is not None:
                sys.meta_path.insert(0, _MutantFinder(module, path, code))
            import pytest

            rc = int(pytest.main(_pytest_args(tests)))
        finally:
            os._exit(rc)
    deadline = t0 + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            rc = os.waitstatus_to_exitcode(status)
            break
        if time.perf_counter() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return "timeout", time.perf_counter() - t0
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    if rc == 0:
        return "survived", elapsed
    if rc == 1:
        return "killed", elapsed
    return ("error" if code is None else "killed"), elapsed  # a mutant that breaks collection is caught too


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", nargs="*", choices=list(TARGETS), default=list(TARGETS))
    ap.add_argument("--ids", nargs="*", type=int, help="run only these mutant numbers (one target)")
    ap.add_argument("--list", action="store_true", help="list the mutants without running them")
    ap.add_argument("--every", type=int, default=1, help="run every k-th mutant only (a quicker sample)")
    ap.add_argument("--timeout", type=float, default=0.0,
                    help="seconds per mutant (default: 4 x the unmutated run + 10 s)")
    ap.add_argument("--json", type=Path, help="write counts and survivors to this file")
    ap.add_argument("--tests", nargs="*", help="test files to run instead of the target's own (one target)")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import numpy, pandas, scipy.ndimage, torch, xarray  # noqa: F401,E401  (imported once, shared by every fork)

    report: dict = {}
    for name in args.target:
        rel, module, tests, functions = TARGETS[name]
        tests = args.tests or tests
        path = ROOT / rel
        mutants = list_mutants(path, functions)
        if args.ids:
            mutants = [m for m in mutants if m.ident in args.ids]
        mutants = mutants[:: max(args.every, 1)]
        src = path.read_text().splitlines()
        if args.list:
            for m in mutants:
                print(f"{name}#{m.ident:<4} {m.op:<6} {rel}:{m.line:<4} {m.description}")
            continue
        missing = [t for t in tests if not (ROOT / t.split("::")[0]).exists()]
        tests = [t for t in tests if (ROOT / t.split("::")[0]).exists()]
        if missing:
            print(f"[{name}] test files not present (skipped): {missing}")
        base, base_s = run_one(module, path, tests, None, 1800)
        if base != "survived":
            print(f"[{name}] the unmutated tests do not pass ({base}); fix them first")
            report[name] = {"error": "baseline failed"}
            continue
        timeout = args.timeout or 4 * base_s + 10
        counts = {"generated": len(mutants), "killed": 0, "timeout": 0, "survived": 0}
        survivors = []
        t0 = time.perf_counter()
        for n, m in enumerate(mutants, 1):
            outcome, _ = run_one(module, path, tests, mutated_code(path, m.ident, functions), timeout)
            if n % 20 == 0:
                print(f"  [{name}] {n}/{len(mutants)} run, {counts['survived']} survived so far", flush=True)
            counts["killed" if outcome == "killed" else outcome] += 1
            if outcome == "survived":
                line = src[m.line - 1].strip() if m.line else ""
                survivors.append({"id": m.ident, "op": m.op, "line": m.line, "mutation": m.description, "source": line})
                print(f"  SURVIVED {name}#{m.ident} {rel}:{m.line} [{m.op}] {m.description}   | {line}", flush=True)
        counts["seconds"] = round(time.perf_counter() - t0, 1)
        counts["baseline_seconds"] = round(base_s, 1)
        print(f"[{name}] {rel}: {counts['generated']} mutants, {counts['killed']} killed, {counts['timeout']} timed out, "
              f"{counts['survived']} survived ({counts['seconds']} s, tests {' '.join(tests)})", flush=True)
        report[name] = {"module": rel, "tests": tests, **counts, "survivors": survivors}
    if args.json and not args.list:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
