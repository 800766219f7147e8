"""Under torchrun with 2 CPU processes (gloo, loopback), the recorder (DDP and FSDP2
``fully_shard``) and both callbacks record the same norms as one process on the same
global batch."""

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("_dist_integrations.py")
MODES = [
    m
    for m, mod in [
        ("recorder", "torch"),
        ("fsdp", "torch"),
        ("hf", "transformers"),
        ("lightning", "lightning"),
    ]
    if importlib.util.find_spec(mod) is not None
]


def _run(argv, out, env):
    # its own process group: on a timeout, torchrun's workers end with it (and what they
    # printed is shown) instead of living on after the test
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"no result within 240 s: {' '.join(argv[-3:])}\n{output[-3000:]}")
    assert proc.returncode == 0, output[-3000:]
    return np.load(out)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_two_processes_record_the_single_process_norms(mode, tmp_path):
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
    }
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        env.pop(k, None)
    one = _run(
        [sys.executable, str(WORKER), mode, str(tmp_path / "one.npy")], tmp_path / "one.npy", env
    )
    # --standalone: torchrun binds its rendezvous store to a free port itself (picking a port
    # here and closing it raced with other processes on a busy machine)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    two = _run([*torchrun, str(WORKER), mode, str(tmp_path / "two.npy")], tmp_path / "two.npy", env)
    assert one.shape == two.shape == (2, 6)
    assert np.all(np.diff(one[0]) != 0)  # the norms change from step to step
    np.testing.assert_allclose(two, one, rtol=1e-5)
