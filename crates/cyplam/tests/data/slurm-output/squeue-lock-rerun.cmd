squeue -h -j 10_1 -o '%T|%N'
