sacct -n -P -X -D -j 359 -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End,JobName
