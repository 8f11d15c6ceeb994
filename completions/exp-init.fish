# Config names after --name: from `exp-status DIR --names`, where DIR is
# the experiment on the command line (its first operand), else $EXP_DIR,
# else the current directory. Added by `cargo xtask gen` to clap's script.
function __exp_init_config_names
    set -l takes_value '--color' '--name' '--description' '--naming' '--shell' '--default' '--env' '--workdir'
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

complete -c exp-init -l color -d 'Colour what people read: auto (on a terminal, unless NO_COLOR is set), always, or never. Data (JSON, CSV, names) is never coloured' -r -f -a "auto\t''
always\t''
never\t''"
complete -c exp-init -l name -d 'A name for the experiment' -r -f -a '(__exp_init_config_names)'
complete -c exp-init -l description -d 'A description for the experiment' -r
complete -c exp-init -l naming -d 'Name configs from their params, e.g. \'{model}-lr{lr}\' or \'{model}-lr{lr:.0e}\' (default: a UUID)' -r
complete -c exp-init -l shell -d 'A shell command template, run with sh -c; each value is quoted for where it stands (bare, "..." or \'...\')' -r
complete -c exp-init -l default -d 'A default param, KEY=VALUE (VALUE is JSON if it parses, else a string). Repeatable' -r
complete -c exp-init -l env -d 'An environment variable for every command, KEY=VALUE (a template). Repeatable' -r
complete -c exp-init -l workdir -d 'Where commands run [default: the current directory]' -r -F
complete -c exp-init -l update -d 'Replace the command, env, description or workdir of an existing experiment, keeping its configs and their statuses'
complete -c exp-init -l require-result -d 'Record a config that exits 0 without a result (no result.json, no JSON object line on stdout) as failed, "no result", in every run'
complete -c exp-init -l no-require-result -d 'With --update: lift --require-result'
complete -c exp-init -s h -l help -d 'Print help (see more with \'--help\')'
complete -c exp-init -s V -l version -d 'Print version'
