"""``metricloss compare``: which loss should a multi-label model be trained with? Measured.

The application above the adapters (it is not imported by ``import metricloss``): trains the
same small MLP once per chosen loss, in the chosen framework (PyTorch, JAX or Keras 3, imported
only when chosen), on a MULAN benchmark shipped with the package or a folder of your own, and
reports test metrics at the default decision rule (logit > 0) and at thresholds tuned on a
validation split. Run it as ``metricloss compare`` or ``python -m metricloss compare``.

- :mod:`metricloss.compare.protocol`: the data protocol, the losses, the evaluation.
- :mod:`metricloss.compare.report`: the terminal table, the Markdown/JSON report, the plots.
- :mod:`metricloss.compare.cli`: the command line.
- ``metricloss.compare.train_torch`` / ``train_jax`` / ``train_keras``: one trainer per
  framework, each importing its framework and the matching adapter module only.
"""

from metricloss.compare.protocol import LOSSES, Options, run

__all__ = ["LOSSES", "Options", "run"]
