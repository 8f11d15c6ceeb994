_exp__status() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="exp__status"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        exp__status)
            opts="-h -V --color --json --counts --status --results --names --check --log --follow --attempt --watch --failures --group --stale-after --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                --status)
                    COMPREPLY=($(compgen -W "todo running done failed removed" -- "${cur}"))
                    return 0
                    ;;
                --log)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --attempt)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --group)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --stale-after)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _exp__status -o nosort -o bashdefault -o default exp-status
else
    complete -F _exp__status -o bashdefault -o default exp-status
fi

# Config names after --log: from `exp-status DIR --names`, where DIR is
# the experiment on the command line (its first operand), else $EXP_DIR,
# else the current directory. Added by `cargo xtask gen` to clap's script.
_exp__status_config_names() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" && $COMP_CWORD -ge 2 ]]; then
        prev="${COMP_WORDS[COMP_CWORD-2]}"
    fi
    case "$prev" in
        --log)
            local takes_value=" --color --status --log --attempt --group --stale-after " dir="${EXP_DIR:-.}" word skip="" i
            for (( i = 1; i < COMP_CWORD; i++ )); do
                word="${COMP_WORDS[i]}"
                if [[ -n $skip ]]; then
                    [[ $word == "=" ]] || skip=""
                    continue
                fi
                case "$word" in
                    --) break ;;
                    =) skip=1 ;;
                    -*) [[ $takes_value == *" $word "* ]] && skip=1 ;;
                    *) dir="$word"; break ;;
                esac
            done
            [[ $dir == "~/"* ]] && dir="$HOME/${dir#"~/"}"
            local IFS=$'\n'
            COMPREPLY=( $(compgen -W "$(exp-status "$dir" --names 2>/dev/null)" -- "$cur") )
            return 0
            ;;
    esac
    _exp__status "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _exp__status_config_names -o nosort -o bashdefault -o default exp-status
else
    complete -F _exp__status_config_names -o bashdefault -o default exp-status
fi
