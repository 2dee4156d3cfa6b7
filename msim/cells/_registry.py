"""The list of hand-written cell models, for `msim.cells.available()` and ``msim models``."""

from ._aliev_panfilov import AlievPanfilov
from ._barkley import Barkley
from ._base import AbstractCellModel
from ._beeler_reuter import BeelerReuter1977
from ._bueno_orovio import BuenoOrovio
from ._courtemanche_ramirez_nattel_1998 import CourtemancheRamirezNattel1998
from ._fenton_karma import FentonKarma
from ._fitzhugh_nagumo import FitzHughNagumo
from ._luo_rudy_1991 import LuoRudy1991
from ._mitchell_schaeffer import MitchellSchaeffer
from ._ohara_rudy_2011 import OHaraRudy2011
from ._reaction import FisherKPP, Nagumo
from ._tentusscher_panfilov_2006 import TenTusscherPanfilov2006

_MODELS: tuple[type[AbstractCellModel], ...] = (
    AlievPanfilov,
    FitzHughNagumo,
    MitchellSchaeffer,
    FentonKarma,
    BuenoOrovio,
    Barkley,
    BeelerReuter1977,
    LuoRudy1991,
    TenTusscherPanfilov2006,
    OHaraRudy2011,
    CourtemancheRamirezNattel1998,
    Nagumo,
    FisherKPP,
)


def available() -> dict[str, str]:
    """The hand-written cell models, ``{class name: one-line description}``.

    Every name is an attribute of `msim.cells`. Any other model in CellML comes in through
    `msim.cells.from_cellml`.
    """
    return {m.__name__: (m.__doc__ or "").strip().splitlines()[0] for m in _MODELS}
