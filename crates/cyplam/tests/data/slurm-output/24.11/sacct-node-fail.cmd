sacct -n -P -X -D -j 57 -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End,JobName
