#!/usr/bin/env bash
# Runs jaxrec on a Cloud TPU VM slice with gcloud.
#
#   ./launch_tpu.sh [--dry-run] COMMAND [OPTIONS] [-- EXTRA_FLAGS...]
#
# Commands:
#   create   create the TPU VM slice
#   setup    copy this checkout to every worker and install jaxrec + jax[tpu]
#   run      start `python -m jaxrec.main` on every worker, detached; each
#            worker logs to jaxrec-NAME.log in its home directory;
#            EXTRA_FLAGS go to jaxrec.main
#   logs     follow the log of one worker (--worker=N, default 0)
#   stop     stop the job on every worker
#   delete   delete the TPU VM slice
#
# Options (or the environment variable in brackets):
#   --name=NAME              TPU VM name [TPU_NAME]                  (all)
#   --zone=ZONE              e.g. us-central2-b [TPU_ZONE]           (all)
#   --project=PROJECT        gcloud project [TPU_PROJECT]            (optional)
#   --accelerator-type=TYPE  e.g. v5litepod-16, v4-32 [TPU_TYPE]     (create)
#   --version=VERSION        TPU runtime, e.g. v2-alpha-tpuv5-lite [TPU_VERSION]
#                                                                    (create)
#   --spot                   a Spot VM (preemptible)                 (create)
#   --config=PATH            run recipe, e.g. configs/ml100k_tiger.py (run)
#   --workdir=gs://...       work directory, on Cloud Storage        (run)
#   --worker=N               which worker's log                      (logs)
#
# --dry-run prints every command instead of running it.
set -euo pipefail

# On the workers, paths are relative to the home directory (ssh's start).
readonly REMOTE_DIR=jaxrec
readonly ARCHIVE=jaxrec-src.tar.gz

dry_run=false
command=""
name="${TPU_NAME:-}"
zone="${TPU_ZONE:-}"
project="${TPU_PROJECT:-}"
accelerator_type="${TPU_TYPE:-}"
version="${TPU_VERSION:-}"
spot=false
config=""
workdir=""
worker=0
extra_flags=()

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

die() {
  echo "launch_tpu.sh: $*" >&2
  echo "Run './launch_tpu.sh --help' for the commands and options." >&2
  exit 2
}

# Quotes one argument for a shell, only where it needs it.
shell_quote() {
  local arg="$1"
  if [[ "$arg" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
    printf '%s' "$arg"
  else
    printf "'%s'" "${arg//\'/\'\\\'\'}"
  fi
}

# Prints a command (ready to paste) under --dry-run, runs it otherwise.
run_cmd() {
  if [[ "$dry_run" == true ]]; then
    local quoted=()
    local arg
    for arg in "$@"; do
      quoted+=("$(shell_quote "$arg")")
    done
    echo "${quoted[*]}"
  else
    "$@"
  fi
}

require() {
  local value="$1" flag="$2"
  [[ -n "$value" ]] || die "'$command' needs $flag"
}

parse_args() {
  while (($#)); do
    case "$1" in
      --dry-run) dry_run=true ;;
      -h|--help) usage; exit 0 ;;
      --name=*) name="${1#*=}" ;;
      --zone=*) zone="${1#*=}" ;;
      --project=*) project="${1#*=}" ;;
      --accelerator-type=*) accelerator_type="${1#*=}" ;;
      --version=*) version="${1#*=}" ;;
      --spot) spot=true ;;
      --config=*) config="${1#*=}" ;;
      --workdir=*) workdir="${1#*=}" ;;
      --worker=*) worker="${1#*=}" ;;
      --) shift; extra_flags=("$@"); break ;;
      create|setup|run|logs|stop|delete)
        [[ -z "$command" ]] || die "two commands given: '$command' and '$1'"
        command="$1" ;;
      *) die "unknown argument '$1'" ;;
    esac
    shift
  done
  [[ -n "$command" ]] || die "no command given (create, setup, run, logs, stop, delete)"
  require "$name" "--name (or TPU_NAME)"
  require "$zone" "--zone (or TPU_ZONE)"
}

# gcloud's common flags for this VM.
vm_flags() {
  local flags=("--zone=$zone")
  [[ -z "$project" ]] || flags+=("--project=$project")
  printf '%s\n' "${flags[@]}"
}

ssh_all() {
  local vm=()
  mapfile -t vm < <(vm_flags)
  run_cmd gcloud compute tpus tpu-vm ssh "$name" "${vm[@]}" --worker=all \
    --command="$1"
}

cmd_create() {
  require "$accelerator_type" "--accelerator-type (or TPU_TYPE)"
  require "$version" "--version (or TPU_VERSION)"
  local vm=()
  mapfile -t vm < <(vm_flags)
  local flags=("--accelerator-type=$accelerator_type" "--version=$version")
  [[ "$spot" == false ]] || flags+=("--spot")
  run_cmd gcloud compute tpus tpu-vm create "$name" "${vm[@]}" "${flags[@]}"
}

cmd_setup() {
  local vm=()
  mapfile -t vm < <(vm_flags)
  local repo
  repo="$(cd "$(dirname "$0")" && pwd)"
  run_cmd git -C "$repo" archive --format=tar.gz --prefix=jaxrec/ \
    -o "/tmp/$ARCHIVE" HEAD
  run_cmd gcloud compute tpus tpu-vm scp "/tmp/$ARCHIVE" "$name:$ARCHIVE" \
    "${vm[@]}" --worker=all
  ssh_all "rm -rf $REMOTE_DIR && tar xzf $ARCHIVE && \
pip install -q -U \"jax[tpu]\" google-cloud-storage gcsfs && \
pip install -q -e ./$REMOTE_DIR"
}

cmd_run() {
  require "$config" "--config"
  require "$workdir" "--workdir"
  [[ "$workdir" == gs://* ]] || die "--workdir must be on Cloud Storage \
(gs://...): every worker writes checkpoints there"
  local job="python -m jaxrec.main --multihost --config=$config --workdir=$workdir"
  local flag
  for flag in "${extra_flags[@]+"${extra_flags[@]}"}"; do
    job+=" $(printf '%q' "$flag")"
  done
  ssh_all "cd $REMOTE_DIR && nohup $job > ../jaxrec-$name.log 2>&1 < /dev/null &"
}

cmd_logs() {
  [[ "$worker" =~ ^[0-9]+$ ]] || die "--worker must be a worker index, got '$worker'"
  local vm=()
  mapfile -t vm < <(vm_flags)
  run_cmd gcloud compute tpus tpu-vm ssh "$name" "${vm[@]}" \
    "--worker=$worker" --command="tail -n 200 -f jaxrec-$name.log"
}

cmd_stop() {
  ssh_all "pkill -f jaxrec.main || true"
}

cmd_delete() {
  local vm=()
  mapfile -t vm < <(vm_flags)
  run_cmd gcloud compute tpus tpu-vm delete "$name" "${vm[@]}" --quiet
}

main() {
  parse_args "$@"
  "cmd_$command"
}

main "$@"
