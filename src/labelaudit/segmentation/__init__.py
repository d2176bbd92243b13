"""Label issues in segmentation masks, with cleanlab's ``segmentation`` names."""
