sacct -n -P -X -j 352 -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End,JobName
