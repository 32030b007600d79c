"""The package's public surface: what it exports, on purpose and in order."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "botkit",
    "botkit.tyntec",
    "botkit.tyntec.models",
    "botkit.sandbox",
    "botkit.server",
    "botkit.store",
    "botkit.testing",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    # isort-style, as ruff's RUF022 keeps it: constants, then classes, then the rest.
    assert exported == sorted(exported, key=lambda n: (n[0].islower() + (not n.isupper()), n))
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.{symbol}"


def test_client_is_importable_from_the_top() -> None:
    from botkit import TyntecClient
    from botkit.tyntec import TyntecClient as Same

    assert TyntecClient is Same


def test_package_ships_type_information() -> None:
    import importlib.resources

    assert importlib.resources.files("botkit").joinpath("py.typed").is_file()
