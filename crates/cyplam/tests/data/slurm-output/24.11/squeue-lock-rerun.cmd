squeue -h -j 57_1 -o '%T|%N|%j'
