from __future__ import annotations

import pytest

from flowsentinel.models.bundle import load_bundle
from stream.livekit import live_bundle, replay_csv


@pytest.fixture(scope="session")
def bundle_path(tmp_path_factory):
    return live_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def bundle(bundle_path):
    return load_bundle(bundle_path)


@pytest.fixture(scope="session")
def replay_path(tmp_path_factory):
    return replay_csv(tmp_path_factory.getbasetemp())
