"""Sphinx configuration of the metricloss documentation site.

Build it with ``nox -s docs`` (or, in an environment with the ``docs`` extra,
``sphinx-build -W --keep-going -n -b html docs docs/_build/html``). Warnings are errors: a
broken link, an unresolved cross-reference, a docstring that does not parse, or a public name
missing from the API reference fails the build. See ``docs/maintainers.md`` for how to add a
page or a module.

Why Sphinx: the docstrings are Google style with reStructuredText inside (``.. math::``,
``:func:`` cross-references, doctest blocks), which Sphinx (autodoc + napoleon) renders as
written; the pages are Markdown, read by MyST-parser. autodoc imports the package, so the
docstrings that adapters build at import time are seen too; the frameworks themselves are
mocked (``autodoc_mock_imports``), so the build needs neither torch, JAX nor TensorFlow.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document this checkout, not an installed copy.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))

import gen_benchmarks  # noqa: E402  (docs/gen_benchmarks.py)

import metricloss  # noqa: E402

project = "metricloss"
author = "the metricloss authors"
copyright = "the metricloss authors, Apache-2.0"
release = version = metricloss.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "**/.ipynb_checkpoints"]
nitpicky = True  # every cross-reference must resolve
# Type names of annotations that are not documented objects (aliases of Any, framework types).
nitpick_ignore_regex = [
    ("py:class", r"(Array|Namespace|ArrayLike|Device|DType|Dtype|PRNGKey|PyTree|Tensor)"),
    ("py:class", r"(Params|State|Number|PerLabel)"),
    ("py:class", r"(torch|jax|jaxlib|keras|tensorflow|tf|flax|optax|numpy|np)\..*"),
    ("py:class", r"(collections\.abc|typing|types)\..*"),
    ("py:class", r"(Any|Callable|Sequence|Mapping|Iterable|Iterator|Literal|NamedTuple|None)"),
    ("py:class", r"(bool|int|float|str|tuple|list|dict|object|type|os\.PathLike|Path)"),
    ("py:class", r"pathlib\..*"),
    ("py:exc", r"(ValueError|TypeError|KeyError|RuntimeError|FileNotFoundError|Warning)"),
    ("py:class", r"(ValueError|TypeError|FileNotFoundError|UserWarning|Exception|Warning)"),
    # A docstring may name a private helper (``:func:`metricloss.backends._state.forward```):
    # shown as code, not linked.
    ("py:.*", r"(.*\.)?_[A-Za-z].*"),
]

# --- the API reference -------------------------------------------------------------------
# The reference (docs/reference/*.md) is generated from the docstrings by autodoc. The
# frameworks are mocked: the adapters' modules import with stand-ins, so their classes and
# docstrings are documented without torch, JAX or TensorFlow installed.
autodoc_mock_imports = ["torch", "jax", "jaxlib", "flax", "optax", "keras", "tensorflow"]
autodoc_member_order = "bysource"
# Signatures without annotations, as NumPy's and JAX's references: the arrays are annotated
# ``Array`` (an alias of Any) and the Args sections say what each argument accepts.
autodoc_typehints = "none"
autodoc_preserve_defaults = True
autodoc_default_options: dict[str, object] = {}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_custom_sections = [("Reference", "references"), ("Example", "example")]

# Modules whose ``__all__`` must be fully documented in the reference; a missing name is a
# build error (and tests/test_docs.py checks the same without building). Add new public
# modules here AND to a page under docs/reference/ (see docs/maintainers.md).
PUBLIC_MODULES = [
    "metricloss",
    "metricloss.datasets",
    "metricloss.backends.torch",
    "metricloss.backends.jax",
    "metricloss.backends.keras",
]

# --- pages ---------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

html_theme = "pydata_sphinx_theme"
html_title = f"metricloss {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []
html_show_sourcelink = False


def _module_all(name: str) -> list[str] | None:
    """``__all__`` of a public module, read from its source (no import), or None if absent."""
    spec_path = ROOT / Path(*name.split("."))
    for path in (spec_path / "__init__.py", spec_path.with_suffix(".py")):
        if path.exists():
            tree = ast.parse(path.read_text())
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
                ):
                    try:
                        return list(ast.literal_eval(node.value))
                    except ValueError:  # built dynamically: import it (frameworks mocked)
                        return list(importlib.import_module(name).__all__)
            return []
    return None


def _is_documented(module: str, name: str, documented: set[str]) -> bool:
    """An adapter's name must be documented under its own module (every framework has an
    ``AnyLoss``); a name of the core may be documented where it is exported
    (``metricloss.f``) or where it is defined (``metricloss.baselines.f``)."""
    if f"{module}.{name}" in documented:
        return True
    if module.startswith("metricloss.backends."):
        return False
    return any(full.rsplit(".", 1)[-1] == name and not full.startswith("metricloss.backends.")
               for full in documented)


def _check_public_names(app, env) -> None:
    """Every name of every public module's ``__all__`` is documented."""
    from sphinx.util import logging

    logger = logging.getLogger("metricloss.docs")
    documented = set(env.domains["py"].objects)
    for module in PUBLIC_MODULES:
        names = _module_all(module)
        if names is None:
            continue  # e.g. an adapter that does not exist in this checkout yet
        for name in names:
            if not _is_documented(module, name, documented):
                logger.warning(
                    "%s.%s is public (in __all__) but not in the API reference: add it to "
                    "a page under docs/reference/ (see docs/maintainers.md)", module, name,
                )


def _resolve_by_last_component(app, env, node, contnode):
    """Resolve ``:func:`name``` written in a docstring as the module path where it is
    defined (``metricloss.confusion.f``) or by its public path (``metricloss.f``): both
    find the one documented object of that name."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    last = target.rsplit(".", 1)[-1]
    domain = env.domains["py"]
    matches = [full for full in domain.objects if full.rsplit(".", 1)[-1] == last]
    if len(matches) != 1:
        return None
    node["reftarget"] = matches[0]
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                               matches[0], node, contnode)


def _preimport_adapters() -> None:
    """Import the adapters once, here, under the same mocks autodoc uses (autodoc then reuses
    the modules), with two repairs that mocking needs:

    - ``@keras.saving.register_keras_serializable(...)`` would turn each Keras class into a
      mock object (its members then cannot be documented): it is replaced by the identity;
    - a class derived from a mocked base (``nn.Module``, ``keras.losses.Loss``) would show the
      mock's ``(*args, **kwargs)`` signature: it is given its own ``__init__``'s signature
      (unless it sets ``__signature__`` itself)."""
    from sphinx.ext.autodoc.mock import _MockObject, mock

    with mock(autodoc_mock_imports):
        import keras

        original = keras.saving

        class _Saving:
            @staticmethod
            def register_keras_serializable(*args, **kwargs):
                return lambda obj: obj

            def __getattr__(self, name: str) -> object:
                return getattr(original, name)

        keras.saving = _Saving()
        for name in PUBLIC_MODULES:
            if not name.startswith("metricloss.backends.") or not _module_exists(name):
                continue
            module = importlib.import_module(name)
            for obj in vars(module).values():
                if (isinstance(obj, type) and issubclass(obj, _MockObject)
                        and "__signature__" not in vars(obj)):
                    init = next((vars(k)["__init__"] for k in obj.__mro__
                                 if "__init__" in vars(k) and k.__module__.startswith(
                                     "metricloss")), None)
                    if init is not None:
                        params = list(inspect.signature(init).parameters.values())[1:]
                        obj.__signature__ = inspect.Signature(params)


def _generate_pages(app) -> None:
    gen_benchmarks.main()
    _preimport_adapters()


_REQUIRES = re.compile(r"^<!-- requires-module: ([\w.]+) -->\n(# [^\n]*\n)")


def _module_exists(name: str) -> bool:
    path = ROOT / Path(*name.split("."))
    return (path / "__init__.py").exists() or path.with_suffix(".py").exists()


def _skip_missing_modules(app, docname, source) -> None:
    """A reference page whose first line is ``<!-- requires-module: NAME -->`` documents a
    module that other work adds (an adapter, the baselines): while that module is absent from
    the checkout, the page shows its title and a note instead of failing the build."""
    match = _REQUIRES.match(source[0])
    if match and not _module_exists(match.group(1)):
        source[0] = (f"{match.group(2)}\n`{match.group(1)}` is not part of this build of the "
                     "package.\n")


def setup(app):
    app.connect("builder-inited", _generate_pages)
    app.connect("source-read", _skip_missing_modules)
    app.connect("env-check-consistency", _check_public_names)
    app.connect("missing-reference", _resolve_by_last_component)
