"""tabular-classification: a table of features in, one predicted label per row out.

huggingface.js has no spec for the tabular tasks; the shape is @huggingface/inference's and the HF
Inference API's: {"inputs": {"data": {column: [value per row]}}}. huggingface_hub sends the table as
a top-level `table` instead; that is accepted and moved to `inputs.data`.
"""

from __future__ import annotations

from hubroute.types._base import Input, Parameters
from hubroute.types._shared import TabularInputData

TabularClassificationInputData = TabularInputData


class TabularClassificationParameters(Parameters):
    """No parameters are defined (huggingface_hub sends an empty object)."""


class TabularClassificationInput(Input):
    inputs: TabularInputData
    parameters: TabularClassificationParameters | None = None


#: one label per row; @huggingface/inference types them as numbers, huggingface_hub as strings,
#: and models answer either, so both are kept as they came.
TabularClassificationOutput = list[str | int | float]
