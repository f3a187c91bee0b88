"""tabular-regression: a table of features in, one predicted value per row out.

Same request shape as tabular-classification (no huggingface.js spec; see that module).
"""

from __future__ import annotations

from hubroute.types._base import Input, Parameters
from hubroute.types._shared import TabularInputData

TabularRegressionInputData = TabularInputData


class TabularRegressionParameters(Parameters):
    """No parameters are defined (huggingface_hub sends an empty object)."""


class TabularRegressionInput(Input):
    inputs: TabularInputData
    parameters: TabularRegressionParameters | None = None


#: one predicted value per row
TabularRegressionOutput = list[float]
