"""`sigshared-demo` end to end on a few steps, and its refusals of bad flags."""

import json

import pytest

from sigshared.demo import main


def _exit_code(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def test_demo_runs_with_the_sampler_flags(tmp_path):
    out = tmp_path / "run"
    argv = ["--max-steps", "2", "--num-inference-steps", "3", "--sampler", "dpmpp_2m"]
    assert _exit_code([*argv, "--quiet", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] == 2 and report["sampler"] == "dpmpp_2m"
    assert report["num_inference_steps"] == 3 and report["guidance_scale"] == 1.5
    assert (out / "plots" / "generated.png").exists()
    assert (out / "checkpoints" / "best.pt").exists()


@pytest.mark.parametrize(
    "flags",
    [
        ["--guidance-scale", "nan"],
        ["--num-inference-steps", "0"],
        ["--num-inference-steps", "1001"],
        ["--max-steps", "0"],
        ["--eta", "-1"],
        ["--sampler", "euler"],
        ["--sampler", "ddpm", "--eta", "0.5"],
    ],
)
def test_bad_flags_exit_2_and_leave_nothing(tmp_path, capsys, flags):
    out = tmp_path / "run"
    assert _exit_code([*flags, "--out", str(out)]) == 2
    assert "error:" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not out.exists()
