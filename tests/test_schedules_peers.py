"""Every peer-compatible schedule equals the peer's lrs step by step (float64 rounding only)."""

import _peers
import numpy as np
import pytest

CASES = _peers.all_cases()


def test_every_peer_library_is_compared():
    peers = {peer.split()[0] for _, peer, _, _ in CASES}
    assert peers == {"torch", "HF", "optax"}  # transformers and optax are in the [test] extra
    assert len(CASES) >= 30


@pytest.mark.parametrize("name,peer,ours,theirs", CASES, ids=[f"{c[1]}: {c[0]}" for c in CASES])
def test_matches_peer_step_by_step(name, peer, ours, theirs):
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=4e-15)


def test_hf_cosine_after_the_run_differs_and_is_documented():
    """After T, HF's cosine rises again; lrcore (like torch) stays at the final lr."""
    import transformers.optimization as H

    T, W = _peers.T, _peers.W
    ours = _peers.ours("cosine", steps=T + 10)
    hf = _peers.torch_lrs(lambda o: H.get_cosine_schedule_with_warmup(o, W, T), T + 10)
    assert np.all(ours[T:] == 0.0) and np.all(hf[T + 1 :] > 0)
