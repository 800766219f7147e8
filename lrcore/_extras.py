"""The optional extras: which modules each brings, and an error that names the extra to
install when one is missing (``lrcore run needs the 'train' extra: pip install
'lrcore[train]'``) instead of a bare ``No module named 'torch'``.

pyproject.toml lists the packages of each extra; tests/test_install_extras.py checks that
every module here is declared there and installs each extra alone.
"""

from __future__ import annotations

import importlib.util

# extra -> the top-level modules its commands and modules import
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("torch", "sklearn", "tqdm", "threadpoolctl"),
    "tensorboard": ("tensorboard", "google_crc32c", "google.protobuf"),
    "hf": ("torch", "transformers", "accelerate"),
    "lightning": ("torch", "lightning"),
    "optax": ("optax", "jax"),
    "app": ("streamlit", "plotly", "tsdownsample", "torch", "sklearn", "tqdm", "tensorboard"),
    "dask": ("distributed", "torch"),  # lrcore.executors: runs on a Dask cluster
}

# a missing module -> the smallest extra that brings it
PROVIDER: dict[str, str] = {
    module.split(".")[0]: extra
    # the last one wins
    for extra in ("dask", "app", "optax", "lightning", "hf", "tensorboard", "train")
    for module in EXTRAS[extra]
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken install
        return False


def missing(extra: str) -> str | None:
    """The first module of ``extra`` that is not installed, or None when all are.

    >>> missing("no such extra")
    Traceback (most recent call last):
    ...
    ValueError: missing: extra must be one of app, dask, hf, lightning, optax, tensorboard, train, got 'no such extra'
    """
    if extra not in EXTRAS:
        raise ValueError(
            f"missing: extra must be one of {', '.join(sorted(EXTRAS))}, got {extra!r}"
        )
    return next((m for m in EXTRAS[extra] if not _installed(m)), None)


def needs(what: str, extra: str, module: str | None = None) -> str:
    """The message for ``what`` (a command or a module) when ``extra`` is not installed.

    >>> needs("lrcore run", "train", "torch")
    "lrcore run needs the 'train' extra: pip install 'lrcore[train]' (no module named 'torch')"
    """
    text = f"{what} needs the {extra!r} extra: pip install 'lrcore[{extra}]'"
    return f"{text} (no module named {module!r})" if module else text


def extra_for(error: ImportError) -> str | None:
    """The extra that brings the module an ``ImportError`` says is missing, or None.

    >>> extra_for(ModuleNotFoundError("No module named 'tqdm'", name="tqdm"))
    'train'
    >>> extra_for(ModuleNotFoundError("No module named 'yaml'", name="yaml")) is None
    True
    """
    name = getattr(error, "name", None) or ""
    return PROVIDER.get(name.split(".")[0])


def missing_extra(what: str, extra: str, error: ImportError) -> ImportError:
    """``error`` (raised importing ``what``'s dependencies) as an error naming ``extra``, when
    the missing module is one of that extra's (else ``error`` itself).

    >>> e = missing_extra("lrcore.integrations.hf", "hf", ModuleNotFoundError(name="torch"))
    >>> str(e), e.name
    ("lrcore.integrations.hf needs the 'hf' extra: pip install 'lrcore[hf]' (no module named 'torch')", 'torch')
    """
    name = getattr(error, "name", None) or ""
    if name.split(".")[0] not in {m.split(".")[0] for m in EXTRAS.get(extra, ())}:
        return error
    return ModuleNotFoundError(needs(what, extra, name), name=name)
