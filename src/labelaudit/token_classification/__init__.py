"""Label issues in token labels (named entities, BIO tags), with cleanlab's ``token_classification`` names."""
