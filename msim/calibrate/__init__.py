"""Calibration: choose parameters of a problem (`Selection`, `Parameter`, transforms, priors),
check gradients (`check_gradients`), and fit them by gradient descent through the whole
simulation (`calibrate`), resumable, with several starts at once."""

from .._paths import array_paths as array_paths
from ._check import GradientReport as GradientReport, check_gradients as check_gradients
from ._gradients import (
    value_and_grad as value_and_grad,
)
from ._loop import (
    CalibrationError as CalibrationError,
    CalibrationResult as CalibrationResult,
    CheckpointError as CheckpointError,
    calibrate as calibrate,
)
from ._losses import activation_loss as activation_loss, trace_loss as trace_loss
from ._parameters import (
    AbstractPenalty as AbstractPenalty,
    AbstractTransform as AbstractTransform,
    Gaussian as Gaussian,
    Identity as Identity,
    Log as Log,
    Parameter as Parameter,
    Selection as Selection,
    Sigmoid as Sigmoid,
    Softplus as Softplus,
    Tikhonov as Tikhonov,
    TotalVariation as TotalVariation,
)
