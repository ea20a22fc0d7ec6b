"""The folder named by ``nnUNet_extTrainer``: nnU-Net imports its modules by file name and looks up the trainer."""
