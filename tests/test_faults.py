"""Nothing lost, ever (issue 8): failures, signals, kills, damaged files and resumes.

The last test kills real ``pyrolatent fit`` processes with SIGKILL and SIGTERM
at random (seeded) moments and shows that ``--resume`` always ends with the
run an uninterrupted process writes, bit for bit.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pyrolatent.data import load_dataset, make_bishop
from pyrolatent.inference import Callback, CheckpointError, NonFiniteLossError, fit
from pyrolatent.inference.checkpoint import load_checkpoint, save_checkpoint
from pyrolatent.models import BayesianPCA

REPO = Path(__file__).resolve().parents[1]


def _params(result) -> dict:
    return {k: v.detach().clone() for k, v in result.guide.state_dict().items()} | {
        k: v.detach().clone() for k, v in result.model.state_dict().items()
    }


# -- the NaN/Inf guard has no gap (item 2) ---------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Encountered NaN")
def test_extreme_data_raise_the_documented_error_with_a_finite_state():
    torch.manual_seed(0)
    data = torch.randn(80, 6) * 1e30
    with pytest.raises(NonFiniteLossError, match="non-finite at step 0.*left at their initial values") as info:
        fit(BayesianPCA(6, 5), data, num_steps=200, device="cpu", seed=0)
    assert info.value.result.num_steps == 0
    params = _params(info.value.result)
    assert params and all(torch.isfinite(v).all() for v in params.values())


def test_a_huge_learning_rate_leaves_model_and_guide_after_the_last_finite_step():
    data = make_bishop(seed=0).x
    with pytest.raises(NonFiniteLossError, match=r"at step (\d+)") as info:
        fit(BayesianPCA(10, 9), data, num_steps=200, lr=1e6, device="cpu", seed=0)
    bad = int(info.value.args[0].split("at step ")[1].split(" ")[0])
    assert bad >= 1 and info.value.result.num_steps == bad
    # the same fit stopped just before the failing step has exactly these parameters
    before = fit(BayesianPCA(10, 9), data, num_steps=bad, lr=1e6, device="cpu", seed=0)
    got, want = _params(info.value.result), _params(before)
    assert got.keys() == want.keys()
    for k in got:
        assert torch.isfinite(got[k]).all(), k
        assert torch.equal(got[k], want[k]), k


# -- SIGTERM like Ctrl-C (item 3) ---------------------------------------------------------------------
class _SignalAt(Callback):
    def __init__(self, step: int, sig: int):
        self.step, self.sig = step, sig

    def on_step(self, info):
        if info.step == self.step:
            os.kill(os.getpid(), self.sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_fit_with_a_checkpoint_that_resumes_exactly(tmp_path, sig):
    data = make_bishop(seed=0).x
    ckpt = tmp_path / "c.pt"
    kw = dict(num_steps=60, lr=0.02, device="cpu", seed=0, checkpoint_path=ckpt)
    stopped = fit(BayesianPCA(10, 9), data, callbacks=[_SignalAt(22, sig)], **kw)
    assert stopped.interrupted and stopped.stopped_by == signal.Signals(sig).name
    # the signal comes during step 22's callbacks: the fit stops after that step or the next one
    assert stopped.num_steps in (23, 24) and load_checkpoint(ckpt)["step"] == stopped.num_steps
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is given back
    resumed = fit(BayesianPCA(10, 9), data, resume=True, **kw)
    whole = fit(BayesianPCA(10, 9), data, **{**kw, "checkpoint_path": tmp_path / "w.pt"})
    assert torch.equal(resumed.losses, whole.losses)


# -- resume checks the checkpoint (items 4 and 5) -----------------------------------------------------
@pytest.fixture
def half_fit(tmp_path):
    """A checkpoint after 20 of 40 steps of BPCA on Bishop's data (minibatches of 50)."""
    data = make_bishop(seed=0).x
    ckpt = tmp_path / "c.pt"
    kw = dict(num_steps=40, lr=0.02, batch_size=50, device="cpu", seed=0, checkpoint_path=ckpt)
    fit(BayesianPCA(10, 9), data, **{**kw, "num_steps": 20})
    return data, ckpt, kw


@pytest.mark.parametrize(
    "change, message",
    [
        ({"optimizer": "sgd"}, "optimizer='adam'; this fit asks for optimizer='sgd'"),
        ({"batch_size": 60}, "batch_size=50; this fit asks for batch_size=60"),
        ({"batch_size": None}, "written with batch_size=50; this fit asks for batch_size=None"),
    ],
)
def test_resume_refuses_other_settings_by_name(half_fit, change, message):
    data, ckpt, kw = half_fit
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit(BayesianPCA(10, 9), data, resume=True, **{**kw, **change})


def test_resume_refuses_other_data_sizes_and_incomplete_checkpoints(half_fit):
    data, ckpt, kw = half_fit
    with pytest.raises(CheckpointError, match="does not fit these data"):
        fit(BayesianPCA(10, 9), data[:200], resume=True, **kw)
    state = load_checkpoint(ckpt)
    del state["optimizer"], state["format"], state["version"]
    save_checkpoint(ckpt, state)
    with pytest.raises(CheckpointError, match=r"is incomplete: it lacks \['optimizer'\]"):
        fit(BayesianPCA(10, 9), data, resume=True, **kw)


def test_resume_applies_and_records_a_changed_learning_rate(half_fit, tmp_path):
    data, ckpt, kw = half_fit
    copy = tmp_path / "copy.pt"
    copy.write_bytes(ckpt.read_bytes())
    same = fit(BayesianPCA(10, 9), data, resume=True, **kw)
    faster = fit(BayesianPCA(10, 9), data, resume=True, **{**kw, "lr": 0.1, "checkpoint_path": copy})
    assert same.notes == [] and faster.notes == ["lr changed from 0.02 to 0.1 on resume"]
    assert torch.equal(same.losses[:21], faster.losses[:21])  # step 20 is computed before the first new update
    assert not torch.equal(same.losses[21:], faster.losses[21:])
    assert load_checkpoint(copy)["settings"]["lr"] == 0.1


def test_resume_on_a_first_run_starts_fresh(tmp_path):
    data = make_bishop(seed=0).x
    a = fit(
        BayesianPCA(10, 9), data, num_steps=15, device="cpu", seed=0, checkpoint_path=tmp_path / "a.pt", resume=True
    )
    b = fit(BayesianPCA(10, 9), data, num_steps=15, device="cpu", seed=0)
    assert torch.equal(a.losses, b.losses)


# -- arguments of the wrong type (item 11) -------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"settings": {"num_steps": 5}}, "'settings' argument of fit must be a FitSettings"),
        ({"callbacks": None}, "'callbacks' argument of fit must be a sequence of Callback"),
        ({"callbacks": [print]}, "item 0 is a builtin_function_or_method"),
        ({"guide": "AutoNormal"}, "'guide' argument of fit must be a callable Pyro guide. Got str"),
    ],
)
def test_arguments_of_the_wrong_type_get_a_clear_type_error(kwargs, message):
    with pytest.raises(TypeError, match=message):
        fit(BayesianPCA(10, 9), make_bishop(seed=0).x, **kwargs)


# -- checkpoints readable like the rest of the run (item 9) ------------------------------------------
def test_checkpoints_get_the_permissions_of_any_new_file(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "c.pt", {"step": 0})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


# -- messages of the readers (item 11) ----------------------------------------------------------------------
def test_a_text_file_named_npy_gets_no_advice_to_load_it_unsafely(tmp_path):
    path = tmp_path / "table.npy"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError) as info:
        load_dataset(f"npy:{path}")
    text = str(info.value)
    assert str(path) in text and "not a NumPy .npy file" in text
    for unsafe in ("allow_pickle", "pickle.load", "unsafely", "trust"):
        assert unsafe not in text


def test_an_object_array_npy_is_refused_without_unsafe_advice(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError) as info:
        load_dataset(f"npy:{path}")
    assert str(path) in str(info.value) and "allow_pickle" not in str(info.value)


def test_a_csv_in_another_encoding_names_the_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("x,y\n1,2\n3,\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8") as info:
        load_dataset(f"csv:{path}")
    assert str(path) in str(info.value) and "line 3" in str(info.value)


# -- one writer at a time, and a swap with no gap (item 10) ---------------------------------------------
def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    from pyrolatent._files import RunDirError, run_lock

    out = tmp_path / "run"
    with run_lock(out):
        with pytest.raises(RunDirError, match=rf"Another pyrolatent process \(pid {os.getpid()}\) is writing"):
            with run_lock(out):
                pass
    with run_lock(out):  # free again once released
        pass
    assert list(tmp_path.iterdir()) == []  # the lock file goes with the lock


def test_a_replaced_folder_is_never_missing(tmp_path, monkeypatch):
    """Every rename while a folder is replaced happens while the final path exists."""
    from pyrolatent._files import replacing_dir

    final = tmp_path / "report"
    seen = []
    real_rename = Path.rename

    def spy(self, target):
        seen.append(final.is_dir())
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", spy)
    with replacing_dir(final) as tmp:
        (tmp / "v").write_text("1")
    for version in ("2", "3"):
        seen.clear()
        with replacing_dir(final) as tmp:
            (tmp / "v").write_text(version)
        assert seen and all(seen)
        assert (final / "v").read_text() == version
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_without_an_atomic_exchange_the_swap_still_completes(tmp_path, monkeypatch):
    import pyrolatent._files as files
    from pyrolatent._files import replacing_dir

    monkeypatch.setattr(files, "exchange", lambda a, b: False)
    final = tmp_path / "report"
    for version in ("1", "2"):
        with replacing_dir(final) as tmp:
            (tmp / "v").write_text(version)
    assert (final / "v").read_text() == "2" and [p.name for p in tmp_path.iterdir()] == ["report"]


# -- kill a real CLI fit at random moments; --resume finishes it exactly (items 3 and 4) -----------------
def _cli(args, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "pyrolatent", *args, "--out", str(out)],
        cwd=out.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _timeless(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("wall_time_s", "steps_per_second")}


def test_killed_and_resumed_cli_fits_end_as_an_uninterrupted_one(tmp_path):
    """SIGKILL and SIGTERM at random (seeded) moments of training; each ``--resume``
    continues from the last checkpoint; the last one finishes with the ELBO,
    losses and summary of an uninterrupted process, bit for bit."""
    csv = tmp_path / "bishop.csv"
    np.savetxt(csv, make_bishop(seed=0).x.numpy(), delimiter=",")
    args = [
        "fit",
        "bpca",
        "--data",
        f"csv:{csv}",
        "--steps",
        "400",
        "--lr",
        "0.02",
        "--seed",
        "0",
        "--device",
        "cpu",
        "--checkpoint-every",
        "20",
    ]
    (tmp_path / "whole").mkdir()
    (tmp_path / "killed").mkdir()
    baseline = _cli(args, tmp_path / "whole" / "run")
    out = tmp_path / "killed" / "run"
    partial = out.with_name("run.partial")
    rng = random.Random(8)
    kills = [signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGTERM]
    steps_seen = []
    for i, sig in enumerate(kills):
        before = _mtime(partial / "checkpoint.pt")
        proc = _cli(args + (["--resume"] if i else []), out)
        try:
            # wait until this process trains (it writes a checkpoint), then a random moment more
            start = time.monotonic()
            while proc.poll() is None and _mtime(partial / "checkpoint.pt") == before and time.monotonic() - start < 90:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.6))
            if proc.poll() is None:
                proc.send_signal(sig)
            code, stdout, stderr = _wait(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        if code == 0:  # finished before the signal came: a complete run, which --resume continues
            assert (out / "summary.json").is_file()
            continue
        assert "Traceback" not in stderr, stderr
        if sig == signal.SIGTERM:
            assert code == 143 and "interrupted by SIGTERM at step" in stderr and "--resume" in stderr, stderr
            assert stderr.count("\n") == 1
            assert sorted(p.name for p in out.parent.iterdir()) == ["run.partial"]  # no temporary folders left
        else:
            assert code == -signal.SIGKILL
        assert not out.exists()  # an unfinished run never appears as complete
        if (partial / "checkpoint.pt").is_file():
            steps_seen.append(load_checkpoint(partial / "checkpoint.pt")["step"])
    code, stdout, stderr = _wait(_cli(args + ["--resume"], out))
    assert code == 0, stderr
    code_whole, _, stderr_whole = _wait(baseline)
    assert code_whole == 0, stderr_whole
    assert len(steps_seen) >= 2 and all(0 < s < 400 for s in steps_seen)  # killed mid-training
    whole, resumed = tmp_path / "whole" / "run", out
    assert (resumed / "losses.csv").read_text() == (whole / "losses.csv").read_text()
    got, want = json.loads((resumed / "summary.json").read_text()), json.loads((whole / "summary.json").read_text())
    assert got["final_elbo"] == want["final_elbo"] and got["num_steps"] == 400
    assert _timeless(got) == _timeless(want)
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]
