"""Framework adapters over the metricloss core (nothing here is imported by the core).

- :mod:`metricloss.backends.torch`: ``torch.nn.Module`` losses; the duals the loss moves
  itself and the running label priors are buffers, PR-AUC's biases ``nn.Parameter`` objects.
- :mod:`metricloss.backends.keras`: Keras 3 losses and metrics (TensorFlow, JAX, PyTorch).
- :mod:`metricloss.backends.jax`: pure ``init()``/``apply()`` pairs over plain pytrees.
- :mod:`metricloss.backends._state`: what they share, framework-free: each loss's variables
  (name, shape, initial value, trainable or not) and the one pure forward
  ``λ → core loss → update_label_priors → dual_step``.

Import the framework module you use; importing this package imports no framework.
"""
