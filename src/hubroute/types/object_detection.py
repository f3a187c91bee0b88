"""object-detection: an image in, labelled bounding boxes out."""

from __future__ import annotations

from hubroute.types._base import Binary, Input, Output, Parameters


class ObjectDetectionParameters(Parameters):
    #: probability threshold for a prediction to be kept
    threshold: float | None = None


class ObjectDetectionInput(Input):
    #: the image (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    parameters: ObjectDetectionParameters | None = None


class ObjectDetectionBoundingBox(Output):
    """Pixel coordinates in the input image."""

    xmin: int
    ymin: int
    xmax: int
    ymax: int


class ObjectDetectionOutputElement(Output):
    label: str
    score: float
    box: ObjectDetectionBoundingBox


ObjectDetectionOutput = list[ObjectDetectionOutputElement]
