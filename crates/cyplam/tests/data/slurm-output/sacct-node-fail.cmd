sacct -n -P -X -D -j 357 -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End,JobName
