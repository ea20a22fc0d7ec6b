"""Geometry support for the distance- and instance-based losses: signed distance maps in mm (SimpleITK), lesion
instances (connected components), and the MONAI transforms that precompute both in the data pipeline."""
