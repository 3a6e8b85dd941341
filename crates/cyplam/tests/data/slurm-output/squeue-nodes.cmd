squeue -h -r -j 357 -o '%i|%A|%K|%T|%r|%N|%j'
