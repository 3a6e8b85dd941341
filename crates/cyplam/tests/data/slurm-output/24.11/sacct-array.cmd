sacct -n -P -X -j 52 -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End,JobName
