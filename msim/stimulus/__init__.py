"""Stimulus protocols: where (regions), when (pulses, trains, S1-S2) and how much."""

from ._protocol import Stimulus as Stimulus, s1s2 as s1s2
from ._regions import (
    AbstractRegion as AbstractRegion,
    Ball as Ball,
    Box as Box,
    MaskRegion as MaskRegion,
    ball as ball,
    box as box,
    from_mask as from_mask,
)
