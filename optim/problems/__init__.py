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

from .online import (OnlineResult, OnlineSums, coefficients, log_slope, readout_steps, run_online,  # noqa: E402, I001
                     run_online_long, run_online_many)

__all__ += ["OnlineResult", "OnlineSums", "coefficients", "log_slope", "readout_steps", "run_online",
            "run_online_long", "run_online_many"]
