"""Label issues in multi-label data, with cleanlab's ``multilabel_classification`` names."""
