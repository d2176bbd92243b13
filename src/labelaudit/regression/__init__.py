"""Label quality of numeric targets, with cleanlab's ``regression`` names."""
