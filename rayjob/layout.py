"""The on-disk contract: every file and folder name rayjob writes, and where a run or trial keeps what.

```
<run.storage_path>/<run.name>/          a run (rayjob.train) or an experiment (rayjob.tune)
  config.yaml                           the resolved config
  checkpoint_000003/checkpoint.ckpt     rayjob.train: one folder per kept epoch (+ metrics.json)
  history.jsonl                         rayjob.train in-process: one line of metrics per epoch
  trial-<id>/                           a sweep trial: Tune's result.json, its plots; in-process trials'
                                        checkpoints too; timing.jsonl (when each of its runs began and ended)
  train-<id>/checkpoint_*/              TorchTrainer trials: the trial's Ray Train run
  trials.jsonl  trials.csv              one typed record per trial (rayjob.results); CSV for people
  optuna_journal.log                    the Optuna study, for `optuna-dashboard` (local storage)
  scheduler/state.json                  the ASHA rungs and paused trials, for --resume
  sweep/ended.json                      written when the time budget ended the sweep: --resume refuses it
  extend-<k>/                           the trials `--extend` added: a Tune experiment of its own
  report.md  *.png                      the sweep report
  export/model.onnx  export/model.json  the exported best model and its sidecar
```
Every checkpoint folder also holds ``plot_data.npz`` and ``history.json`` for the plots rendered later.
"""

from __future__ import annotations

from rayjob.storage import join

CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.ckpt"
CHECKPOINT_METRICS_FILE = "metrics.json"
RUN_HISTORY_FILE = "history.jsonl"
TRIAL_TIMING_FILE = "timing.jsonl"  # a trial's runs (first, and after each pause or restart): start, end, pid
TRIALS_JSONL = "trials.jsonl"
TRIALS_CSV = "trials.csv"
STUDY_FILE = "optuna_journal.log"
# rayjob.sweep.rung_scheduler.RungScheduler's rungs and paused trials. In a subfolder: Tune's restore copies the
# experiment root's *.json and *.pkl into its staging folder and later uploads them back, over newer ones.
SCHEDULER_STATE_FILE = "scheduler/state.json"
ENDED_FILE = "sweep/ended.json"  # the time budget ended the sweep (rayjob.sweep.budget); same subfolder reason
EXTENDED_MARK = "sweep/extended.json"  # in extend-<k>/: that extension ran to its end (rayjob.sweep.extend)
REPORT_FILE = "report.md"
EXPORT_DIR = "export"
FASTEST_DIR = "export_fastest"  # python -m rayjob.export SWEEP --fastest-within PP
ONNX_FILE = "model.onnx"
SIDECAR_FILE = "model.json"
LATENCY_FILE = "export/latency.json"  # batch-1 onnxruntime latency per architecture (rayjob.outputs.latency)
PLOT_DATA_FILE = "plot_data.npz"
CHECKPOINT_HISTORY_FILE = "history.json"
RUN_PLOT_FILES = ("confusion_matrix.png", "history.png", "samples.png")


def run_dir(storage_path: str, name: str) -> str:
    """The folder (or URI) of a run or sweep: ``<storage_path>/<name>``."""
    return join(storage_path, name)


def trial_dir_name(trial_id: str) -> str:
    return f"trial-{trial_id}"


def train_run_name(trial_id: str) -> str:
    """A TorchTrainer trial's Ray Train run: stable, so a restarted trial resumes its checkpoints."""
    return f"train-{trial_id}"


def checkpoint_dir_name(epoch: int) -> str:
    return f"checkpoint_{epoch:06d}"


def export_paths(experiment: str) -> tuple[str, str]:
    """(model.onnx, model.json) of a run or sweep."""
    return join(experiment, EXPORT_DIR, ONNX_FILE), join(experiment, EXPORT_DIR, SIDECAR_FILE)
