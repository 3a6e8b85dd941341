squeue -h -r -j 8 -o '%i|%A|%K|%T|%r|%N'
