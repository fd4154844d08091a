"""rayjob: train image classifiers and search their hyperparameters on Ray."""

__version__ = "0.1.0"
