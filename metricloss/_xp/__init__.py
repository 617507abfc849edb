"""The private array layer under the core (never imported by users, never by an adapter's
sibling): one module per framework, each loaded by :mod:`metricloss._namespace` only once that
framework is already imported by the user.

- :mod:`metricloss._xp.tensorflow`: an array-API namespace over TensorFlow ops (array-api-compat
  has none), its native kernels and its in-graph assertion.
- :mod:`metricloss._xp.torch`: PyTorch's fused kernels and its in-graph assertion.
- :mod:`metricloss._xp.jax`: ``jax.nn``'s kernels and its in-graph assertion (checkify).

The layering is: array layer (here) -> :mod:`metricloss._checks` -> losses and metrics ->
the framework adapters. Nothing here imports from above.
"""
