sacct -n -P -X -D -j 10 -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End
