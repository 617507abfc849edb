"""The backend matrix.

    nox                      tests on every backend (separate environments), parity, lint,
                             and the benchmarks' quick mode
    nox -s tests             the four backend environments only (numpy+array-api-strict, torch,
                             jax, tensorflow); `nox -s "tests(backend='jax')"` for one
    nox -s parity            all frameworks in one environment, cross-framework comparisons
    nox -s keras             the Keras adapter on each Keras backend (tensorflow, jax, torch),
                             one process each; `nox -s "keras(backend='jax')"` for one
    nox -s lint typecheck    ruff; mypy on metricloss/
    nox -s bench             the full benchmarks (writes benchmarks/results/)
    nox -s demo              the main job: `metricloss compare`, every loss on MULAN yeast
    nox -s efficacy          every loss x the five MULAN sets x seeds (not a default session)
    nox -s docs              the documentation site, warnings as errors (docs/_build/html)

Works with nox's default virtualenv backend and with uv (`nox -db uv`, much faster).
PyTorch is pinned to the CPU build this project's machines carry (`METRICLOSS_TORCH` overrides
the requirement, e.g. `METRICLOSS_TORCH=torch` on a machine with a GPU).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = [
    "tests", "parity", "keras", "lint", "typecheck", "bench_quick", "package", "docs",
]
nox.options.reuse_existing_virtualenvs = True

TORCH = os.environ.get("METRICLOSS_TORCH", "torch==2.13.0")
# The streaming benchmark's comparison (its binned curve); installed with the pinned torch.
TORCHMETRICS = "torchmetrics>=1.4"

# uv ignores pip's configuration: hand it pip's find-links so it sees the local torch wheel.
if os.environ.get("PIP_FIND_LINKS") and not os.environ.get("UV_FIND_LINKS"):
    os.environ["UV_FIND_LINKS"] = os.environ["PIP_FIND_LINKS"]

BACKENDS = {
    # session parameter: (extras, extra requirements, namespaces under test)
    "numpy": (["test"], [], "numpy,array_api_strict"),
    # torch also gets the demo extra: the compare command's plots and progress bar are tested there
    "torch": (["test", "torch", "demo"], [TORCH, "monai>=1.4"], "torch"),
    "jax": (["test", "jax"], [], "jax"),
    "tensorflow": (["test", "tensorflow"], [], "tensorflow"),
}

ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore::DeprecationWarning"}


# Two workers on CI's two cores; `loadfile` keeps a module's tests in one worker, so JAX and
# torch.compile reuse their compiled shapes.
XDIST = ("-n", os.environ.get("METRICLOSS_XDIST", "auto"), "--dist", "loadfile")

# The adapters and the private framework layer import their framework: their examples run in
# the framework's own sessions, not in the NumPy one.
DOCTEST_IGNORE = ("--ignore=metricloss/backends", "--ignore=metricloss/_xp",
                  "--ignore-glob=metricloss/compare/train_*.py")


def _install(session: nox.Session, extras: list[str], extra: list[str]) -> None:
    # The pinned torch goes in the same command as the extras, so the resolver takes it.
    session.install(f".[{','.join(extras)}]", *extra)


def _pytest(session: nox.Session, *args: str, env: dict[str, str]) -> None:
    # pytest exits 5 when nothing was collected (e.g. a filter that matches nothing): not a
    # failure of the matrix.
    session.run("python", "-m", "pytest", *args, *session.posargs, env={**ENV, **env},
                success_codes=[0, 5])


@nox.session
@nox.parametrize("backend", list(BACKENDS))
def tests(session: nox.Session, backend: str) -> None:
    """The test suite on one backend, in its own environment (JAX twice: with x64, and in its
    default float32 mode, the one most users run; NumPy also runs the docstring examples)."""
    extras, extra, namespaces = BACKENDS[backend]
    _install(session, extras, extra)
    if backend == "torch":
        # Segmentation oracles (tests/test_segmentation_oracles.py): MONAI above (torch pinned
        # in the same command); SMP without its dependencies (timm and torchvision would
        # replace the pinned torch), only its losses subpackage is imported.
        session.install("--no-deps", "segmentation-models-pytorch>=0.5")
        # LibAUC, the AUC-M oracle (tests/test_auc_m.py): without its dependencies, which
        # would pull torchvision and another torch; the pinned torch in the same command.
        session.install("--no-deps", "libauc==2.0.1", TORCH)
    env = {"METRICLOSS_BACKENDS": namespaces}
    _pytest(session, *XDIST, "-q", "-m", "not parity", env=env)
    if backend == "numpy":
        _pytest(session, "-q", "--doctest-modules", "metricloss", *DOCTEST_IGNORE, env=env)
    if backend == "jax":
        _pytest(session, *XDIST, "-q", "-m", "not parity and not float64",
                env={**env, "METRICLOSS_JAX_X64": "0"})


@nox.session
@nox.parametrize("backend", ["tensorflow", "jax", "torch"])
def keras(session: nox.Session, backend: str) -> None:
    """The Keras 3 adapter (tests/backends/test_keras.py) on one Keras backend: Keras picks its
    backend once per process (KERAS_BACKEND)."""
    extras, extra = {"tensorflow": (["test", "tensorflow"], []),
                     "jax": (["test", "tensorflow", "jax"], []),
                     "torch": (["test", "tensorflow", "torch"], [TORCH])}[backend]
    _install(session, extras, extra)
    _pytest(session, "-q", "tests/backends/test_keras.py", "tests/backends/test_keras_streaming.py",
            env={"KERAS_BACKEND": backend, "METRICLOSS_KERAS": "1",
                 "METRICLOSS_BACKENDS": "numpy"})
    # `metricloss compare --framework keras` end to end on this backend.
    _pytest(session, "-q", "tests/test_compare.py", "-k", "keras",
            env={"KERAS_BACKEND": backend})


@nox.session
def parity(session: nox.Session) -> None:
    """Cross-framework parity: PyTorch, JAX, TensorFlow and NumPy in one environment."""
    _install(session, ["test", "torch", "jax", "tensorflow"], [TORCH])
    # the one parity registry: collecting every test module would cost more than it runs
    _pytest(session, "-q", "-m", "parity", "tests/test_parity.py", env={})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on the package, the tests and the benchmarks."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "metricloss", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the package."""
    session.install(".", "mypy>=1.10", "numpy")
    session.run("mypy", "metricloss")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks, every framework, full size: writes benchmarks/results/."""
    _install(session, ["bench", "torch", "jax", "tensorflow"], [TORCH, TORCHMETRICS])
    session.run("python", "benchmarks/run.py", *session.posargs, env=ENV)


@nox.session
def bench_quick(session: nox.Session) -> None:
    """Every benchmark case once at a tiny size: proves they still run (no timing asserted)."""
    _install(session, ["bench", "torch", "jax", "tensorflow"], [TORCH, TORCHMETRICS])
    session.run("python", "benchmarks/run.py", "--quick", "--out", session.create_tmp(),
                *session.posargs, env=ENV)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: `metricloss compare` (every loss, the same MLP, PyTorch, MULAN yeast;
    arguments after `--` go to the command, e.g. `-- --data enron --out report`).
    `-- --out benchmarks/results/demo`, then `python benchmarks/demo_readme.py`, refreshes
    the README's demo output (tests/test_readme.py checks it against that report)."""
    _install(session, ["demo", "torch"], [TORCH])
    session.run("metricloss", "compare", *session.posargs, env=ENV)


@nox.session
def efficacy(session: nox.Session) -> None:
    """Training efficacy: every loss x the five MULAN sets x seeds (PyTorch); writes
    benchmarks/results/efficacy.{md,json}. Not a default session (about 10 minutes)."""
    _install(session, ["demo", "torch"], [TORCH])
    session.run("python", "benchmarks/efficacy.py", *session.posargs, env=ENV)


@nox.session
def constraints(session: nox.Session) -> None:
    """Do the constrained losses meet their target on held-out data (issue 20's study: every
    framework, Keras on its three backends); writes benchmarks/results/constraints.{md,json}.
    Not a default session (about 10 minutes); `-- --quick` proves it runs."""
    _install(session, ["test", "torch", "jax", "tensorflow"], [TORCH, "optax"])
    session.run("python", "benchmarks/constraints.py", *session.posargs, env=ENV)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (Sphinx, docs/conf.py) with warnings as errors: a broken link,
    an unresolved cross-reference, a docstring that does not parse or a public name missing
    from the API reference fails. Needs no framework (they are mocked). Output:
    docs/_build/html (arguments after `--` replace `-b html docs docs/_build/html`)."""
    session.install(".[docs]")
    args = session.posargs or ["-b", "html", "docs", "docs/_build/html"]
    session.run("sphinx-build", "-W", "--keep-going", "-n", "-q", "-E", *args, env=ENV)


@nox.session
def package(session: nox.Session) -> None:
    """Release check: build the wheel and the sdist, `twine check` them, validate CITATION.cff,
    then install the wheel (not editable) in a clean virtual environment and run
    tests/test_package.py there, from outside the repository, against it."""
    session.install("build", "twine", "cffconvert")
    tmp = Path(session.create_tmp()).resolve()
    dist, clean, run_dir = tmp / "dist", tmp / "clean-env", tmp / "wheel-test"
    for folder in (dist, clean, run_dir):
        shutil.rmtree(folder, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    built = sorted(str(path) for path in dist.iterdir())
    session.run("twine", "check", "--strict", *built)
    session.run("cffconvert", "--validate", "--infile", "CITATION.cff")
    (wheel,) = dist.glob("*.whl")
    # A fresh environment with the wheel and what the test needs, nothing from the checkout.
    session.run("python", "-m", "venv", str(clean))
    python = str(clean / ("Scripts" if sys.platform == "win32" else "bin") / "python")
    session.run(python, "-m", "pip", "install", "-q", str(wheel), "numpy>=1.26", "pytest>=8",
                external=True)
    run_dir.mkdir()
    shutil.copy("tests/test_package.py", run_dir)
    (run_dir / "pytest.ini").write_text("[pytest]\n")  # not the repository's configuration
    with session.chdir(run_dir):
        session.run(python, "-m", "pytest", "-q", "-rs", "-s", "-p", "no:cacheprovider",
                    "test_package.py", *session.posargs, external=True,
                    env={"METRICLOSS_WHEEL": str(wheel)})
