"""The application: the ``monai-segloss`` command line, the demo, the report writer and the dataset profiler."""
