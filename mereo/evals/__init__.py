"""Evaluation: SynthParts, dataset loaders, metrics, the eval runner, ablations and reports."""
