"""ROC-AUC as a pairwise loss: moved to :mod:`metricloss.global_objectives.roc_auc`; this module
keeps the old import path working (``from metricloss.roc_auc import roc_auc_loss``)."""

from metricloss.global_objectives.roc_auc import ROC_METHODS, roc_auc_loss

__all__ = ["ROC_METHODS", "roc_auc_loss"]
