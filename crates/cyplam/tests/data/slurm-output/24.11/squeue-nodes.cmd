squeue -h -r -j 57 -o '%i|%A|%K|%T|%r|%N|%j'
