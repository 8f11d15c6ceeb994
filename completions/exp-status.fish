# Config names after --log: from `exp-status DIR --names`, where DIR is
# the experiment on the command line (its first operand), else $EXP_DIR,
# else the current directory. Added by `cargo xtask gen` to clap's script.
function __exp_status_config_names
    set -l takes_value '--color' '--status' '--log' '--attempt' '--group' '--stale-after'
    set -l dir .
    set -q EXP_DIR[1]; and test -n "$EXP_DIR"; and set dir $EXP_DIR
    set -l skip 0
    for word in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $word
            case --
                break
            case '--*=*'
            case '-*'
                contains -- $word $takes_value; and set skip 1
            case '*'
                set dir $word
                break
        end
    end
    for name in (exp-status $dir --names 2>/dev/null)
        printf '%s\tconfig\n' $name
    end
end

complete -c exp-status -l color -d 'Colour what people read: auto (on a terminal, unless NO_COLOR is set), always, or never. Data (JSON, CSV, names) is never coloured' -r -f -a "auto\t''
always\t''
never\t''"
complete -c exp-status -l status -d 'Only configs with this status (todo, running, done, failed; with --watch also removed, and it is the status after each change). Repeatable' -r -f -a "todo\t''
running\t''
done\t''
failed\t''
removed\t''"
complete -c exp-status -l log -d 'Print config NAME\'s stdout and stderr logs, each headed' -r -f -a '(__exp_status_config_names)'
complete -c exp-status -l attempt -d 'With --log: the logs of attempt N (1 is the first) instead of the latest' -r
complete -c exp-status -l group -d 'With --failures: group N only (1 is the largest); past the last group, exit 2' -r
complete -c exp-status -l stale-after -d 'A heartbeat older than this marks a runner on another host dead' -r
complete -c exp-status -l json -d 'One JSON object per config (with --counts, one object of counts)'
complete -c exp-status -l counts -d 'Only the number of configs per status'
complete -c exp-status -l results -d 'With --json: add each config\'s result object and its last metrics line, "metrics" (each null when it has none)'
complete -c exp-status -l names -d 'Bare names, one per line (e.g. for exp-run --names -)'
complete -c exp-status -l check -d 'Exit 0 if every config is done, else 1'
complete -c exp-status -l follow -d 'With --log: follow a running config\'s logs until it ends'
complete -c exp-status -l watch -d 'Then print a line per change (added, started, ended, reset, removed)'
complete -c exp-status -l failures -d 'The failed configs grouped by error, largest group first'
complete -c exp-status -s h -l help -d 'Print help (see more with \'--help\')'
complete -c exp-status -s V -l version -d 'Print version'
