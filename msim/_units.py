"""Units of a model's quantities, for labels and result files (msim computes in whatever units
the model is written in; these say which they are)."""

import dataclasses

MODEL = "model units"


@dataclasses.dataclass(frozen=True)
class Units:
    """The units of a cell model's time, voltage and of the tissue's lengths.

    ``"model units"`` for a dimensionless model (Aliev-Panfilov, Barkley, FitzHugh-Nagumo).
    Physiological models are written in ms and mV, and msim's tissue conventions then take
    lengths in mm (diffusivity in mm^2/ms, conduction velocity in mm/ms = m/s).

    Attributes:
        time: the unit of ``t``, ``dt`` and every time msim reports (``"ms"``).
        voltage: the unit of the voltage state (``"mV"``; ``"1"`` for a dimensionless voltage in
            a model whose time is in ms, such as Bueno-Orovio's ``u``).
        length: the unit of the grid's spacing and of region coordinates (``"mm"``).
    """

    time: str = MODEL
    voltage: str = MODEL
    length: str = MODEL

    def label(self, name: str, quantity: str) -> str:
        """An axis label: ``name`` followed by the unit of ``quantity`` (``"time"``,
        ``"voltage"``, ``"length"``, ``"velocity"`` or ``"frequency"``) in brackets, e.g.
        ``label("t", "time") == "t (ms)"``; a dimensionless voltage is left bare."""
        unit = self.unit(quantity)
        return name if unit in ("1", "") else f"{name} ({unit})"

    def unit(self, quantity: str) -> str:
        """The unit of a quantity: one of the attributes, or a derived ``"velocity"``
        (length/time) or ``"frequency"`` (1/time; Hz for ms)."""
        if quantity in ("time", "voltage", "length"):
            return getattr(self, quantity)
        if quantity == "velocity":
            if MODEL in (self.length, self.time):
                return MODEL
            return (
                "m/s" if (self.length, self.time) == ("mm", "ms") else f"{self.length}/{self.time}"
            )
        if quantity == "frequency":
            if self.time == MODEL:
                return f"1/({MODEL})"
            return "Hz" if self.time in ("ms", "s") else f"1/{self.time}"
        raise ValueError(
            f"unknown quantity {quantity!r}: choose time, voltage, length, velocity or frequency."
        )

    def frequency_factor(self) -> float:
        """The factor from 1/time to `unit("frequency")`: 1000 for ms to Hz, else 1."""
        return 1000.0 if self.time == "ms" else 1.0


DIMENSIONLESS = Units()
PHYSIOLOGICAL = Units(time="ms", voltage="mV", length="mm")
SCALED_VOLTAGE = Units(time="ms", voltage="1", length="mm")
