squeue -h -r -j 10 -o '%i|%A|%K|%T|%r|%N'
