"""Workflows that train and evaluate: a training run (run folder, Trainer, bundles) and LOSO."""
