sacct -n -P -X -j 8 -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End
