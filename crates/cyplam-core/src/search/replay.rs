//! A sampled search replayed on a recorded full grid (`cyplam report --what-if --search`).
