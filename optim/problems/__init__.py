"""Test problems: 2-D functions, Reddi et al.'s online counterexample, and the models."""

from .functions2d import (
    FUNCTIONS,
    Function2D,
    central_difference,
    get_function,
    gradient,
    numerical_momentum_descent,
    trajectory,
)

__all__ = ["FUNCTIONS", "Function2D", "central_difference", "get_function", "gradient", "numerical_momentum_descent",
           "trajectory"]

from .online import OnlineResult, coefficients, run_online, run_online_many  # noqa: E402

__all__ += ["OnlineResult", "coefficients", "run_online", "run_online_many"]
