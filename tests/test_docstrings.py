"""Every public name has a valid numpydoc docstring (numpydoc.validate)."""

import importlib
import inspect

import pytest
from numpydoc.validate import validate

# Checks we do not enforce, with the reason for each.
IGNORED = {
    "ES01": "an extended summary is welcome, not required (short helpers)",
    "SA01": "See Also sections are written where a related name helps",
    "EX01": "methods follow the class's Examples; not every function has one",
    "GL01": "the summary may start on the first line (PEP 257 style)",
    "RT02": "a single return value may be named (``self : object``), as in "
    "scikit-learn",
}

# skorch hooks that the estimators override to handle ragged clips and masks;
# skorch documents their contract, and users do not call them.
SKORCH_HOOKS = {
    "forward_iter",
    "get_iterator",
    "get_params",
    "get_split_datasets",
    "initialize_module",
    "run_single_epoch",
}

MODULES = [
    "sklearn_allconv",
    "sklearn_allconv.augment",
    "sklearn_allconv.baseline",
    "sklearn_allconv.batching",
    "sklearn_allconv.callbacks",
    "sklearn_allconv.datasets",
    "sklearn_allconv.displays",
    "sklearn_allconv.export",
    "sklearn_allconv.distributed",
    "sklearn_allconv.feature_store",
    "sklearn_allconv.features",
    "sklearn_allconv.hear",
    "sklearn_allconv.metrics",
    "sklearn_allconv.model_selection",
    "sklearn_allconv.network",
    "sklearn_allconv.progress",
    "sklearn_allconv.cli",
    "sklearn_allconv.reproduce",
]


def _public_names():
    seen = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            # Constants (tuples of labels) carry attribute docstrings numpydoc
            # cannot validate; classes and functions are checked once each.
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            qualified = f"{obj.__module__}.{obj.__qualname__}"
            if qualified in seen:
                continue
            seen.add(qualified)
            yield qualified
            if inspect.isclass(obj):
                yield from _own_methods(obj)


def _own_methods(cls):
    """Public methods that this library defines or overrides on ``cls``."""
    for name, member in inspect.getmembers(cls):
        if (name.startswith("_") and name != "__call__") or name in SKORCH_HOOKS:
            continue
        if not (inspect.isfunction(member) or isinstance(member, property)):
            continue
        function = member.fget if isinstance(member, property) else member
        if function.__module__.startswith("sklearn_allconv"):
            yield f"{cls.__module__}.{cls.__qualname__}.{name}"


@pytest.mark.parametrize("name", sorted(set(_public_names())))
def test_docstring_is_numpydoc_valid(name):
    result = validate(name)
    errors = [
        f"{code}: {message}"
        for code, message in result["errors"]
        if code not in IGNORED
    ]
    assert not errors, f"{name}:\n" + "\n".join(errors)
