sinfo -h -N -o '%N|%P|%a|%c|%m|%T'
