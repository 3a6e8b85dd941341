scontrol show job 52
