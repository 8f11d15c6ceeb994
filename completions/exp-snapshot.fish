complete -c exp-snapshot -l color -d 'Colour what people read: auto (on a terminal, unless NO_COLOR is set), always, or never. Data (JSON, CSV, names) is never coloured' -r -f -a "auto\t''
always\t''
never\t''"
complete -c exp-snapshot -l signal -d 'Send SIG (e.g. USR1) to each running command first' -r
complete -c exp-snapshot -l wait -d 'With --signal, wait up to DUR for the commands\' status files' -r
complete -c exp-snapshot -l json -d 'One JSON line per running config instead of the folder\'s path'
complete -c exp-snapshot -s h -l help -d 'Print help (see more with \'--help\')'
complete -c exp-snapshot -s V -l version -d 'Print version'
