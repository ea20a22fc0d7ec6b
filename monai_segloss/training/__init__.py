"""Training integration: loss schedules, deep supervision, MONAI engine handlers and checkpoint lookup."""
