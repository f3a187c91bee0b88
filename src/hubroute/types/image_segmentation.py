"""image-segmentation: an image in, labelled masks out."""

from __future__ import annotations

from typing import Literal

from hubroute.types._base import Binary, Input, Output, Parameters

ImageSegmentationSubtask = Literal["instance", "panoptic", "semantic"]


class ImageSegmentationParameters(Parameters):
    #: threshold for turning the predicted masks into binary values
    mask_threshold: float | None = None
    #: mask overlap threshold to eliminate small, disconnected segments
    overlap_mask_area_threshold: float | None = None
    #: the segmentation to perform, depending on the model's capabilities
    subtask: ImageSegmentationSubtask | None = None
    #: probability threshold to filter out predicted masks
    threshold: float | None = None


class ImageSegmentationInput(Input):
    #: the image (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    parameters: ImageSegmentationParameters | None = None


class ImageSegmentationOutputElement(Output):
    label: str
    #: the mask as a black-and-white image, base64-encoded (PNG)
    mask: str
    score: float | None = None


ImageSegmentationOutput = list[ImageSegmentationOutputElement]
