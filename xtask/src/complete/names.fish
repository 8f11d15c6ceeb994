# Config names after @NAMES_LIST@: from `exp-status DIR --names`, where DIR is
# the experiment on the command line (its first operand), else $EXP_DIR,
# else the current directory. Added by `cargo xtask gen` to clap's script.
function @FUNCTION@
    set -l takes_value @TAKES_VALUE@
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
