"""Label quality of numeric targets, with cleanlab's ``regression`` names.

:mod:`labelaudit.regression.rank` holds ``get_label_quality_scores`` (methods
``"outre"`` and ``"residual"``), a drop-in for ``cleanlab.regression.rank``.
"""

from . import rank

__all__ = ["rank"]
