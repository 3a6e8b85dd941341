squeue -h -j 359_0 -o '%T|%N|%j'
