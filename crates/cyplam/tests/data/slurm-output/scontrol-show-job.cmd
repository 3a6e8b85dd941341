scontrol show job 352
