squeue -h -j 357_1 -o '%T|%N|%j'
