squeue -h -r -j 352 -o '%i|%A|%K|%T|%r|%N|%j'
