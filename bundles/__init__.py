"""The reference MONAI bundles, shipped in the wheel as ``monai_segloss.bundles`` (configs, docs and licence of each
bundle as package data). Copy one out with ``monai-segloss bundle export NAME DIR`` to run it
(:mod:`monai_segloss.app.shipped`)."""
