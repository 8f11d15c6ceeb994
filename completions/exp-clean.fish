complete -c exp-clean -l color -d 'Colour what people read: auto (on a terminal, unless NO_COLOR is set), always, or never. Data (JSON, CSV, names) is never coloured' -r -f -a "auto\t''
always\t''
never\t''"
complete -c exp-clean -l keep -d 'Keep only these configs: JSON Lines of params (`-` is stdin); remove the rest' -r -F
complete -c exp-clean -l names -d 'Remove these configs: bare names or JSON lines with "name" (`-` is stdin)' -r -F
complete -c exp-clean -l stale-after -d 'A heartbeat older than this marks a runner on another host dead' -r
complete -c exp-clean -l reset -d 'With --names: put the listed configs back to todo instead of removing them'
complete -c exp-clean -l reset-failed -d 'Put every failed config back to todo'
complete -c exp-clean -l dry-run -d 'Say what would change, and change nothing'
complete -c exp-clean -l purge -d 'Also delete the folders of removed configs'
complete -c exp-clean -s h -l help -d 'Print help (see more with \'--help\')'
complete -c exp-clean -s V -l version -d 'Print version'
