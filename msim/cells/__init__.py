"""Cell-scale ODE models. Each model is an `equinox.Module` with array parameters; see
[`AbstractCellModel`][msim.cells.AbstractCellModel] for the interface a custom model implements.
"""

from .._convert import parameter as parameter
from ._aliev_panfilov import AlievPanfilov as AlievPanfilov
from ._barkley import Barkley as Barkley
from ._base import (
    AbstractCellModel as AbstractCellModel,
    AbstractGatedCellModel as AbstractGatedCellModel,
    gate_indices as gate_indices,
)
from ._beeler_reuter import BeelerReuter1977 as BeelerReuter1977
from ._bueno_orovio import BuenoOrovio as BuenoOrovio
from ._cellml import (
    CellMLImportError as CellMLImportError,
    CellMLModel as CellMLModel,
    GatedCellMLModel as GatedCellMLModel,
    from_cellml as from_cellml,
    from_myokit as from_myokit,
)
from ._courtemanche_ramirez_nattel_1998 import (
    CourtemancheRamirezNattel1998 as CourtemancheRamirezNattel1998,
)
from ._fenton_karma import FentonKarma as FentonKarma
from ._fitzhugh_nagumo import FitzHughNagumo as FitzHughNagumo
from ._luo_rudy_1991 import LuoRudy1991 as LuoRudy1991
from ._mitchell_schaeffer import MitchellSchaeffer as MitchellSchaeffer
from ._ohara_rudy_2011 import OHaraRudy2011 as OHaraRudy2011
from ._reaction import FisherKPP as FisherKPP, Nagumo as Nagumo
from ._registry import available as available
from ._tentusscher_panfilov_2006 import TenTusscherPanfilov2006 as TenTusscherPanfilov2006
