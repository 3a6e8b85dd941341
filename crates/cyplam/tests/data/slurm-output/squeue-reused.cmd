squeue -h -r -j 359 -o '%i|%A|%K|%T|%r|%N|%j'
