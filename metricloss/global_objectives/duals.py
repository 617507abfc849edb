"""The dual variables' dynamics, pure: the dual value of a stored variable (gradient reversal),
the violation of each constraint (hard or surrogate) and one projected dual step."""

from __future__ import annotations

from collections.abc import Callable

from metricloss._checks import (
    check_floating,
    check_number,
    require_array,
)
from metricloss._namespace import (
    Array,
    namespace_of,
)


def dual_value(
    variable: Array,
    dual_rate_factor: float,
    stop_gradient: Callable[[Array], Array],
) -> Array:
    """The dual value ``λ = |v|`` of a stored variable, in gradient-reversal form.

    .. math::

        λ = \\text{stop\\_gradient}((1+f)·|v|) − f·|v|

    Its value is ``|v|``; its gradient with respect to ``v`` is ``−f·sign(v)`` times the
    gradient with respect to ``λ``. So the *same* optimizer step that descends on the model's
    weights ascends on the dual variable (at ``f`` times the learning rate), as the Lagrangian
    saddle point requires, without a second backward pass or a separate update.

    Args:
        variable: the stored dual variable (any shape, floating), e.g. a ``torch.nn.Parameter``,
            a ``tf.Variable`` or a JAX array in a params pytree.
        dual_rate_factor: ``f ≥ 0`` (0.1 in the original library).
        stop_gradient: the framework's stop-gradient, e.g. ``torch.Tensor.detach``,
            ``jax.lax.stop_gradient``, ``tf.stop_gradient`` (``lambda x: x`` for NumPy).

    Returns:
        ``λ``, with the shape, dtype and library of ``variable``.

    Example:
        >>> import numpy as np
        >>> dual_value(np.array([-2.0, 0.5]), 0.1, lambda x: x).round(12).tolist()
        [2.0, 0.5]
    """
    if not callable(stop_gradient):
        raise TypeError(f"stop_gradient must be callable (the framework's stop-gradient), got "
                        f"{type(stop_gradient).__name__}")
    f = check_number("dual_rate_factor", dual_rate_factor, low=0.0)
    require_array("variable", variable)
    xp = namespace_of(variable=variable)
    check_floating(xp, "variable", variable)
    magnitude = xp.abs(variable)
    return stop_gradient((1.0 + f) * magnitude) - f * magnitude

