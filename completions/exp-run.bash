_exp__run() {
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
                cmd="exp__run"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        exp__run)
            opts="-j -q -h -V --color --jobs --retry-failed --retries --timeout --kill-after --names --shard --limit --stop-after --env --dry-run --json --progress --status-every --quiet --exclusive --no-cache --max-failures --setup --interactive --replay --replay-all --require-result --follow --idle-exit --stale-after --devices --devices-per-config --memfree --record-env --require-clean --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                --jobs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -j)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --retries)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --kill-after)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --names)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --shard)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --limit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --stop-after)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --env)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --progress)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                --status-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-failures)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --setup)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --replay)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --idle-exit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --stale-after)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --devices)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --devices-per-config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --memfree)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --record-env)
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
    complete -F _exp__run -o nosort -o bashdefault -o default exp-run
else
    complete -F _exp__run -o bashdefault -o default exp-run
fi

# Config names after --replay: from `exp-status DIR --names`, where DIR is
# the experiment on the command line (its first operand), else $EXP_DIR,
# else the current directory. Added by `cargo xtask gen` to clap's script.
_exp__run_config_names() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" && $COMP_CWORD -ge 2 ]]; then
        prev="${COMP_WORDS[COMP_CWORD-2]}"
    fi
    case "$prev" in
        --replay)
            local takes_value=" --color --jobs -j --retries --timeout --kill-after --names --shard --limit --stop-after --env --progress --status-every --max-failures --setup --replay --idle-exit --stale-after --devices --devices-per-config --memfree --record-env " dir="${EXP_DIR:-.}" word skip="" i
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
    _exp__run "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _exp__run_config_names -o nosort -o bashdefault -o default exp-run
else
    complete -F _exp__run_config_names -o bashdefault -o default exp-run
fi
