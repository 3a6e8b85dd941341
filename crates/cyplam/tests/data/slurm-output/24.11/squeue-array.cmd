squeue -h -r -j 52 -o '%i|%A|%K|%T|%r|%N|%j'
