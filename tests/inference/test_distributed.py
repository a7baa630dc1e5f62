"""Data-parallel fits: two gloo processes on the CPU follow one process."""

import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from pyrolatent.data import make_bishop
from pyrolatent.inference import fit, load_checkpoint, restore
from pyrolatent.models import BayesianPCA

STEPS, BATCH, SEED = 50, 40, 3

WORKER = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    from pyrolatent.data import make_bishop
    from pyrolatent.inference import fit
    from pyrolatent.inference.distributed import init_from_env
    from pyrolatent.models import BayesianPCA
    import torch.distributed as dist

    out, steps, batch, seed, every, die_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
    compile_ = {"off": False}.get(sys.argv[7], sys.argv[7])
    assert init_from_env(timeout=20.0, device="cpu")
    rank = dist.get_rank()
    data = make_bishop(n_samples=120, seed=0)
    torch.manual_seed(100 + rank)  # different model initialisations: rank 0's must win
    model = BayesianPCA(10, 4)

    class Die:
        pass

    callbacks = []
    if die_at >= 0 and rank == 1:
        from pyrolatent.inference import Callback

        class Die(Callback):
            def on_step(self, info):
                if info.step == die_at:
                    import os
                    os._exit(9)

        callbacks = [Die()]
    kwargs = dict(num_steps=steps, seed=seed, lr=0.05, checkpoint_path=out + "/ckpt.pt", compile=compile_)
    if batch != "none":
        kwargs["batch_size"] = int(batch)
    if every != "none":
        kwargs["checkpoint_every"] = int(every)
    result = fit(model, data, callbacks=callbacks, **kwargs)
    if rank == 0:
        torch.save({k: v.detach() for k, v in result.guide.state_dict().items()}, out + "/guide.pt")
        torch.save(result.losses, out + "/losses.pt")
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp_path, *, world=2, steps=STEPS, batch=str(BATCH), every="none", die_at=-1, timeout=240, compile_="off"):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = _free_port()
    procs = []
    for rank in range(world):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        args = [sys.executable, str(script), str(tmp_path), str(steps), batch, str(SEED), every, str(die_at), compile_]
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=timeout) for p in procs]
    return [p.returncode for p in procs], outs


def _single(batch_size):
    data = make_bishop(n_samples=120, seed=0)
    torch.manual_seed(100)  # rank 0's initialisation
    model = BayesianPCA(10, 4)
    return fit(model, data, num_steps=STEPS, seed=SEED, lr=0.05, batch_size=batch_size)


@pytest.mark.parametrize(
    "batch, compile_", [(BATCH, "off"), (None, "off"), (BATCH, "trace")], ids=["minibatch", "full-batch", "traced"]
)
def test_two_processes_follow_one_process(tmp_path, batch, compile_):
    # "traced": each rank replays its traced step (fit(compile="trace")), then the gradients are averaged
    codes, outs = _launch(tmp_path, batch="none" if batch is None else str(batch), compile_=compile_)
    assert codes == [0, 0], outs
    one = _single(batch)
    two = torch.load(tmp_path / "guide.pt", weights_only=True)
    mine = {k: v.detach() for k, v in one.guide.state_dict().items()}
    assert mine.keys() == two.keys()
    # float32: the shards' sums are rounded differently from the whole batch's, and
    # Adam's normalised steps turn 1e-7 gradient differences into up to ~3e-5 after 50 steps
    for k in mine:
        torch.testing.assert_close(two[k], mine[k], rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(torch.load(tmp_path / "losses.pt", weights_only=True), one.losses, rtol=1e-4, atol=1e-3)


def test_a_two_process_checkpoint_resumes_in_one_process(tmp_path):
    codes, outs = _launch(tmp_path, steps=30, every="10")
    assert codes == [0, 0], outs
    data = make_bishop(n_samples=120, seed=0)
    ckpt = tmp_path / "ckpt.pt"
    assert load_checkpoint(ckpt)["step"] == 30
    resumed = fit(
        BayesianPCA(10, 4),
        data,
        num_steps=STEPS,
        seed=SEED,
        lr=0.05,
        batch_size=BATCH,
        checkpoint_path=ckpt,
        resume=True,
    )
    straight = _single(BATCH)
    torch.testing.assert_close(resumed.losses, straight.losses, rtol=1e-4, atol=1e-3)
    restored = restore(BayesianPCA(10, 4), data, ckpt)
    assert restored.num_steps == STEPS


def test_a_rank_killed_mid_fit_leaves_a_loadable_checkpoint(tmp_path):
    codes, outs = _launch(tmp_path, steps=200, every="5", die_at=23, timeout=120)
    assert codes[1] == 9  # rank 1 was killed
    assert codes[0] != 0  # rank 0 did not wait forever: it failed with a message
    assert "Rank 0 of 2" in outs[0][1] and "stopped answering" in outs[0][1]
    state = load_checkpoint(tmp_path / "ckpt.pt")
    assert 0 < state["step"] <= 23 and state["step"] % 5 == 0


def test_torchrun_runs_the_command_line_with_rank_0_writing(tmp_path):
    import json

    from pyrolatent.cli import main

    csv = tmp_path / "bishop.csv"
    import numpy as np

    np.savetxt(csv, make_bishop(n_samples=120, seed=0).x.numpy(), delimiter=",")
    common = [
        "fit",
        "bpca",
        "--data",
        f"csv:{csv}",
        "--n-components",
        "4",
        "--steps",
        "40",
        "--batch-size",
        "40",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_free_port()),
        "-m",
        "pyrolatent",
        *common,
        "--out",
        str(tmp_path / "two"),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("run directory:") == 1  # only rank 0 writes and reports
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert two["final_elbo"] == pytest.approx(one["final_elbo"], rel=1e-4)
