"""Label issues in bounding boxes, with cleanlab's ``object_detection`` names."""
