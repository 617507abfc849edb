"""Framework adapters over the metricloss core (nothing here is imported by the core).

- :mod:`metricloss.backends.torch`: ``torch.nn.Module`` losses; duals and biases are
  ``nn.Parameter``s, running label priors are buffers.
- :mod:`metricloss.backends.jax`: pure ``init()``/``apply()`` pairs over plain pytrees.
- :mod:`metricloss.backends._state`: what they share, framework-free: each loss's variables
  (name, shape, initial value, trainable or not) and the one pure forward
  ``dual_value → core loss → update_label_priors``.

Import the framework module you use; importing this package imports no framework.
"""
