"""``python -m rayjob`` is the single training run (``rayjob.train``)."""

from rayjob.cli import run_main
from rayjob.train import main

run_main(main)
