"""The built-in block kinds, one module each, registered in library order."""

from bnncc.hw.blocks.add import AddBlock
from bnncc.hw.blocks.concat import ConcatBlock
from bnncc.hw.blocks.dwc import Dwc
from bnncc.hw.blocks.fifo import Fifo
from bnncc.hw.blocks.fork import Fork
from bnncc.hw.blocks.labelselect import LabelSelect
from bnncc.hw.blocks.mvau import Mvau
from bnncc.hw.blocks.pool import Pool
from bnncc.hw.blocks.swg import Swg
from bnncc.hw.blocks.thresh import Thresh
from bnncc.hw.registry import register

for _kind in (Fifo, Mvau, Thresh, Swg, Pool, LabelSelect, Dwc, Fork, AddBlock, ConcatBlock):
    register(_kind)

__all__ = ["AddBlock", "ConcatBlock", "Dwc", "Fifo", "Fork", "LabelSelect", "Mvau", "Pool", "Swg", "Thresh"]
